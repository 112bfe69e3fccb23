import { AlertCondition } from "@chime/sdk/gen/alert_service_pb";
import { RunState } from "@chime/sdk/gen/run_pb";
import { ScheduleEventReason } from "@chime/sdk/gen/watch_service_pb";
import { labelsMatch, type LabelTerm } from "../api/label-selector.js";
import type { EndedRun } from "../events/log-consumer.js";

/** A rule as the engine matches it (label selector already parsed). */
export interface MatchableRule {
  id: string;
  namespace: string;
  condition: AlertCondition;
  /** Only this job's runs; null: every job of the namespace. */
  jobId: string | null;
  labelTerms: LabelTerm[];
}

const ENDED = new Set([RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED, RunState.TIMED_OUT]);
const FAILED = new Set([RunState.FAILED, RunState.TIMED_OUT]);

export const isEnded = (state: RunState): boolean => ENDED.has(state);
export const isFailure = (state: RunState): boolean => FAILED.has(state);

/**
 * Which rules an outcome concerns. For CONSECUTIVE_FAILURES this is only a candidate: the
 * engine then checks the job's streak in Postgres (a failure is needed, not sufficient).
 */
export function rulesFor(outcome: Pick<EndedRun, "state" | "namespace" | "jobId" | "labels">, rules: readonly MatchableRule[]): MatchableRule[] {
  if (!isEnded(outcome.state)) return [];
  return rules.filter((rule) => {
    if (!concernsJob(rule, outcome)) return false;
    switch (rule.condition) {
      case AlertCondition.RUN_ENDED:
        return true;
      case AlertCondition.RUN_FAILED:
      case AlertCondition.CONSECUTIVE_FAILURES:
        return isFailure(outcome.state);
      default:
        return false;
    }
  });
}

/** The schedule event reason each schedule condition notifies. */
const SCHEDULE_REASONS = new Map<AlertCondition, ScheduleEventReason>([
  [AlertCondition.FIRE_MISSED, ScheduleEventReason.MISSED],
  [AlertCondition.FIRE_LATE, ScheduleEventReason.LATE],
]);

/** The conditions matched against schedule events (alerts/schedule-alert-engine.ts). */
export const SCHEDULE_CONDITIONS: ReadonlySet<AlertCondition> = new Set(SCHEDULE_REASONS.keys());

/** Which rules a schedule event concerns: FIRE_MISSED for MISSED, FIRE_LATE for LATE, in the rule's scope. */
export function rulesForScheduleEvent(
  event: { reason: ScheduleEventReason; namespace: string; jobId: string; labels: Record<string, string> },
  rules: readonly MatchableRule[],
): MatchableRule[] {
  return rules.filter((rule) => SCHEDULE_REASONS.get(rule.condition) === event.reason && concernsJob(rule, event));
}

/** Whether a rule's scope (namespace, job, label selector) takes in a job. */
export function concernsJob(rule: MatchableRule, job: Pick<EndedRun, "namespace" | "jobId" | "labels">): boolean {
  if (rule.namespace !== job.namespace) return false;
  if (rule.jobId !== null && rule.jobId !== job.jobId) return false;
  return labelsMatch(rule.labelTerms, job.labels);
}

/**
 * Whether a job's latest ended runs (newest first, the one just ended included, CANCELLED
 * left out) make a streak that has just reached `threshold`: exactly `threshold` failures
 * on top, and the run before them (if any) not a failure. A streak notifies once, not at
 * every failure after it.
 */
export function streakJustReached(latestStates: readonly RunState[], threshold: number): boolean {
  if (!failuresOnTop(latestStates, threshold)) return false;
  return latestStates.length === threshold || !isFailure(latestStates[threshold]);
}

/** Whether a job's latest ended runs (newest first) begin with at least `count` failures. */
export function failuresOnTop(latestStates: readonly RunState[], count: number): boolean {
  if (latestStates.length < count) return false;
  for (let i = 0; i < count; i++) if (!isFailure(latestStates[i])) return false;
  return true;
}
