import { describe, expect, it } from "vitest";
import { AlertCondition } from "@chime/sdk/gen/alert_service_pb";
import { RunState } from "@chime/sdk/gen/run_pb";
import { parseLabelSelector } from "../api/label-selector.js";
import type { EndedRun } from "../events/log-consumer.js";
import { ScheduleEventReason } from "@chime/sdk/gen/watch_service_pb";
import { rulesFor, rulesForScheduleEvent, streakJustReached, type MatchableRule } from "./alert-rules.js";

const JOB = "11111111-1111-4111-8111-111111111111";
const OTHER_JOB = "22222222-2222-4222-8222-222222222222";

const outcome = (state: RunState, over: Partial<EndedRun> = {}): EndedRun => ({
  cursor: 1,
  runId: "r",
  jobId: JOB,
  jobName: "job",
  queue: "q",
  state,
  attempt: 1,
  time: new Date(0),
  error: "",
  namespace: "team",
  labels: { env: "prod" },
  scheduledTime: new Date(0),
  startTime: null,
  ...over,
});

const rule = (condition: AlertCondition, over: Partial<MatchableRule> = {}): MatchableRule => ({
  id: "rule",
  namespace: "team",
  condition,
  jobId: null,
  labelTerms: [],
  ...over,
});

describe("rulesFor", () => {
  const { RUN_FAILED, RUN_ENDED, CONSECUTIVE_FAILURES } = AlertCondition;
  const cases: Array<[string, EndedRun, MatchableRule, boolean]> = [
    ["a failure, RUN_FAILED", outcome(RunState.FAILED), rule(RUN_FAILED), true],
    ["a time-out, RUN_FAILED", outcome(RunState.TIMED_OUT), rule(RUN_FAILED), true],
    ["a success, RUN_FAILED", outcome(RunState.SUCCEEDED), rule(RUN_FAILED), false],
    ["a cancellation, RUN_FAILED", outcome(RunState.CANCELLED), rule(RUN_FAILED), false],
    ["a success, RUN_ENDED", outcome(RunState.SUCCEEDED), rule(RUN_ENDED), true],
    ["a cancellation, RUN_ENDED", outcome(RunState.CANCELLED), rule(RUN_ENDED), true],
    ["a retry wait (not an end), RUN_ENDED", outcome(RunState.RETRY_WAIT), rule(RUN_ENDED), false],
    ["RUNNING, RUN_ENDED", outcome(RunState.RUNNING), rule(RUN_ENDED), false],
    ["a failure, CONSECUTIVE_FAILURES candidate", outcome(RunState.FAILED), rule(CONSECUTIVE_FAILURES), true],
    ["a success, CONSECUTIVE_FAILURES", outcome(RunState.SUCCEEDED), rule(CONSECUTIVE_FAILURES), false],
    ["another namespace", outcome(RunState.FAILED, { namespace: "other" }), rule(RUN_FAILED), false],
    ["the rule's job", outcome(RunState.FAILED), rule(RUN_FAILED, { jobId: JOB }), true],
    ["another job than the rule's", outcome(RunState.FAILED, { jobId: OTHER_JOB }), rule(RUN_FAILED, { jobId: JOB }), false],
    ["labels matching the selector", outcome(RunState.FAILED), rule(RUN_FAILED, { labelTerms: parseLabelSelector("env=prod") }), true],
    ["labels not matching the selector", outcome(RunState.FAILED), rule(RUN_FAILED, { labelTerms: parseLabelSelector("env=staging") }), false],
  ];
  it.each(cases)("%s", (_, event, r, matches) => {
    expect(rulesFor(event, [r]).length).toBe(matches ? 1 : 0);
  });
});

describe("streakJustReached", () => {
  const F = RunState.FAILED;
  const T = RunState.TIMED_OUT;
  const S = RunState.SUCCEEDED;
  const cases: Array<[RunState[], number, boolean]> = [
    [[F, F, F], 3, true],
    [[F, T, F, S], 3, true],
    [[F, F], 3, false],
    [[F, F, F, F], 3, false],
    [[F, F, S, F], 3, false],
    [[S, F, F, F], 3, false],
    [[F, F, S], 2, true],
  ];
  it.each(cases)("%j with threshold %i: %s", (states, threshold, reached) => {
    expect(streakJustReached(states, threshold)).toBe(reached);
  });
});

/** A schedule event of JOB, as the schedule alert engine reads it. */
const scheduleEvent = (reason: ScheduleEventReason, over: { namespace?: string } = {}) => ({ reason, namespace: "team", jobId: JOB, labels: { env: "prod" }, ...over });

describe("rulesForScheduleEvent", () => {
  const { FIRE_MISSED, FIRE_LATE, RUN_FAILED } = AlertCondition;
  const { MISSED, LATE, OVERLAP_SKIPPED, CAUGHT_UP } = ScheduleEventReason;
  const cases: Array<[string, ReturnType<typeof scheduleEvent>, MatchableRule, boolean]> = [
    ["MISSED, FIRE_MISSED", scheduleEvent(MISSED), rule(FIRE_MISSED), true],
    ["LATE, FIRE_LATE", scheduleEvent(LATE), rule(FIRE_LATE), true],
    ["LATE, FIRE_MISSED", scheduleEvent(LATE), rule(FIRE_MISSED), false],
    ["MISSED, FIRE_LATE", scheduleEvent(MISSED), rule(FIRE_LATE), false],
    ["OVERLAP_SKIPPED notifies neither", scheduleEvent(OVERLAP_SKIPPED), rule(FIRE_MISSED), false],
    ["CAUGHT_UP notifies neither", scheduleEvent(CAUGHT_UP), rule(FIRE_LATE), false],
    ["a run condition never", scheduleEvent(MISSED), rule(RUN_FAILED), false],
    ["another namespace", scheduleEvent(MISSED), rule(FIRE_MISSED, { namespace: "other" }), false],
    ["the rule's job", scheduleEvent(MISSED), rule(FIRE_MISSED, { jobId: JOB }), true],
    ["another job", scheduleEvent(MISSED), rule(FIRE_MISSED, { jobId: OTHER_JOB }), false],
    ["labels matched", scheduleEvent(LATE), rule(FIRE_LATE, { labelTerms: [{ kind: "equals", key: "env", value: "prod" }] }), true],
    ["labels not matched", scheduleEvent(LATE), rule(FIRE_LATE, { labelTerms: [{ kind: "equals", key: "env", value: "dev" }] }), false],
  ];
  it.each(cases)("%s", (_name, e, r, expected) => {
    expect(rulesForScheduleEvent(e, [r]).length === 1).toBe(expected);
  });
});
