import { RunState } from "@chime/sdk/gen/run_pb";
import type { WatchRunsRequest } from "@chime/sdk/gen/watch_service_pb";
import { FieldViolations, requireId } from "../api/errors.js";
import { labelConditions, labelsMatch, parseLabelSelector, type LabelTerm } from "../api/label-selector.js";
import type { WatchEvent } from "./event-source.js";
// Namespaces are named like queues.
import { QUEUE_PATTERN } from "../jobs/job-validation.js";

const MAX_VALUES = 1000;

/** A WatchRuns filter, checked once: matched in memory for live events and in SQL for replay. */
export interface RunFilter {
  jobIds?: Set<string>;
  queues?: Set<string>;
  states?: Set<number>;
  namespace?: string;
  labels: LabelTerm[];
}

export function parseRunFilter(request: Pick<WatchRunsRequest, "jobIds" | "queues" | "states" | "labelSelector" | "namespace">): RunFilter {
  const problems = new FieldViolations();
  const filter: RunFilter = { labels: [] };
  if (request.jobIds.length > MAX_VALUES) problems.add("job_ids", `at most ${MAX_VALUES} values`);
  else if (request.jobIds.length) {
    filter.jobIds = new Set();
    for (const id of request.jobIds) {
      try {
        filter.jobIds.add(requireId("job_ids", id));
      } catch (error) {
        problems.add("job_ids", `${JSON.stringify(id.slice(0, 64))} is not a valid id`);
        void error;
      }
    }
  }
  if (request.queues.length > MAX_VALUES) problems.add("queues", `at most ${MAX_VALUES} values`);
  else if (request.queues.length) {
    for (const queue of request.queues) {
      if (!QUEUE_PATTERN.test(queue)) problems.add("queues", `${JSON.stringify(queue.slice(0, 80))} is not a queue name (letters, digits, _ and -, at most 64)`);
    }
    filter.queues = new Set(request.queues);
  }
  if (request.states.length) {
    for (const state of request.states) {
      if (state === RunState.UNSPECIFIED || !(state in RunState)) problems.add("states", `unknown value ${state}`);
    }
    filter.states = new Set(request.states);
  }
  if (request.namespace && !QUEUE_PATTERN.test(request.namespace)) {
    problems.add("namespace", `${JSON.stringify(request.namespace.slice(0, 80))} is not a namespace (1-64 letters, digits, _ or -)`);
  } else if (request.namespace) filter.namespace = request.namespace;
  try {
    filter.labels = parseLabelSelector(request.labelSelector);
  } catch (error) {
    problems.add("label_selector", (error as Error).message.replace(/^label_selector: /, ""));
  }
  problems.throwIfAny();
  return filter;
}

export function matchesRunFilter(filter: RunFilter, event: WatchEvent): boolean {
  return (
    event.change === 0 &&
    (!filter.jobIds || filter.jobIds.has(event.jobId)) &&
    (!filter.queues || filter.queues.has(event.queue)) &&
    (!filter.states || filter.states.has(event.state)) &&
    (filter.namespace === undefined || filter.namespace === event.namespace) &&
    (filter.labels.length === 0 || labelsMatch(filter.labels, event.labels))
  );
}

/** The filter as SQL conditions on run_events e, runs r and jobs j; parameters numbered after `firstParam - 1`. */
export function runFilterSql(filter: RunFilter, firstParam: number): { conditions: string[]; params: unknown[] } {
  // labelConditions numbers parameters by the array length: pad, then drop the padding.
  const params: unknown[] = new Array(firstParam - 1).fill(null);
  const conditions: string[] = [];
  const add = (sql: (p: string) => string, value: unknown) => {
    params.push(value);
    conditions.push(sql(`$${params.length}`));
  };
  if (filter.jobIds) add((p) => `e.job_id = ANY(${p}::uuid[])`, [...filter.jobIds]);
  if (filter.queues) add((p) => `r.queue = ANY(${p}::text[])`, [...filter.queues]);
  if (filter.states) add((p) => `e.state = ANY(${p}::smallint[])`, [...filter.states]);
  if (filter.namespace !== undefined) add((p) => `j.namespace = ${p}`, filter.namespace);
  conditions.push(...labelConditions(filter.labels, "j.labels", params));
  return { conditions, params: params.slice(firstParam - 1) };
}
