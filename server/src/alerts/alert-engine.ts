import type pg from "pg";
import { AlertCondition } from "@chime/sdk/gen/alert_service_pb";
import { parseLabelSelector } from "../api/label-selector.js";
import { createLogConsumerPass, readEndedRuns, type EndedRun } from "../events/log-consumer.js";
import { stateName, type NotifiedRun } from "./alert-notification.js";
import { rulesFor, streakJustReached, type MatchableRule } from "./alert-rules.js";
import { enqueue, latestOutcomes, listRules, ruleEvent, type RuleEvents, type RuleRow } from "./alert-store.js";

const RUN_END_CONDITIONS = new Set([AlertCondition.RUN_FAILED, AlertCondition.RUN_ENDED, AlertCondition.CONSECUTIVE_FAILURES]);

/**
 * Matches run ends against the alert rules and writes the deliveries they call for: a
 * consumer of the run event log (events/log-consumer.ts), so each end is matched exactly
 * once, and it never touches the tables the scheduler and the ingester write.
 */
export function createAlertEngine(pool: pg.Pool): () => Promise<number> {
  // Read once a pass: whether there are rules at all, and the rules its pages match against.
  let rules: RuleRow[] = [];
  return createLogConsumerPass(pool, {
    name: "alerts",
    read: readEndedRuns,
    // Rules on run ends only: JOB_AUTO_PAUSED and QUEUE_STALLED are raised elsewhere (jobs/auto-pause.ts, queue-stall-watch.ts).
    active: async () => (rules = (await listRules(pool, "")).filter((rule) => RUN_END_CONDITIONS.has(rule.condition))).length > 0,
    prepare: (ended) => matchOutcomes(pool, ended, rules),
    write: async (client, groups) => {
      for (const group of groups.values()) await enqueue(client, group);
      return groups.size;
    },
  });
}

/** The outcomes' notifications, one group per rule (in event order within it). */
async function matchOutcomes(pool: pg.Pool, events: EndedRun[], rules: RuleRow[]): Promise<Map<string, RuleEvents>> {
  const byId = new Map(rules.map((rule) => [rule.id, rule]));
  const matchable = rules.map(matchableRule);
  const matches: Array<{ rule: RuleRow; event: EndedRun }> = [];
  for (const event of events) {
    for (const candidate of rulesFor(event, matchable)) {
      const rule = byId.get(candidate.id)!;
      if (rule.condition === AlertCondition.CONSECUTIVE_FAILURES) {
        const states = await latestOutcomes(pool, event.jobId, event.runId, rule.threshold + 1);
        if (!streakJustReached(states, rule.threshold)) continue;
      }
      matches.push({ rule, event });
    }
  }
  const groups = new Map<string, RuleEvents>();
  for (const { rule, event } of matches) {
    const run = notifiedRun(event);
    const group = groups.get(rule.id);
    if (group) {
      group.count += 1;
      group.last = { key: "last_run", value: run };
      continue;
    }
    groups.set(rule.id, ruleEvent(rule, { namespace: event.namespace, job: { id: event.jobId, name: event.jobName }, run }, { key: "last_run", value: run }));
  }
  return groups;
}

/** A run end as a notification shows it. */
export const notifiedRun = (event: EndedRun): NotifiedRun => ({
  id: event.runId,
  state: stateName(event.state),
  attempt: event.attempt,
  error: event.error,
  time: event.time.toISOString(),
});

/** A rule as the matchers take it (its label selector parsed). */
export const matchableRule = (rule: RuleRow): MatchableRule => ({
  id: rule.id,
  namespace: rule.namespace,
  condition: rule.condition,
  jobId: rule.job_id,
  labelTerms: parseLabelSelector(rule.label_selector),
});
