import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { RunLogLevel, RunState, RunStatusUpdateSchema } from "@chime/sdk";
import { describe, expect, it } from "vitest";
import { transition, type RunRecord } from "./run-lifecycle.js";
import { runRecord } from "./run-record-fixture.js";

const T0 = new Date("2026-12-01T10:00:00.000Z");
const date = (seconds: number) => new Date(T0.getTime() + seconds * 1000);
/** The instant `seconds` after T0, as the lifecycle records it (ISO text). */
const at = (seconds: number) => date(seconds).toISOString();
const { RUNNING, RETRY_WAIT, SUCCEEDED, FAILED, CANCELLED, TIMED_OUT } = RunState;

const run = runRecord;

/** A run RUNNING attempt `a`, started at second 1 by worker w1. */
const running = (a = 1) =>
  run({
    state: RUNNING,
    attempt: a,
    start_time: at(1),
    attempts: [{ attempt: a, state: "RUN_STATE_RUNNING", startTime: at(1), workerId: "w1" }],
  });

/** A log line of attempt 1. */
const line = (seq: number) => ({ attempt: 1, seq, level: RunLogLevel.INFO, message: `line ${seq}` });

function report(state: RunState, attempt: number, fields: MessageInitShape<typeof RunStatusUpdateSchema> = {}) {
  return {
    kind: "report" as const,
    update: create(RunStatusUpdateSchema, { runId: run().id, jobId: run().job_id, state, attempt, time: timestampFromDate(date(5)), workerId: "w2", ...fields }),
  };
}

describe("run lifecycle: which reports are accepted (attempt fencing)", () => {
  const cases: [string, RunRecord, ReturnType<typeof report>, RunState | "stale_attempt" | "run_ended"][] = [
    ["QUEUED + RUNNING(1) starts attempt 1", run(), report(RUNNING, 1), RUNNING],
    ["QUEUED + SUCCEEDED(1) implies the start", run(), report(SUCCEEDED, 1), SUCCEEDED],
    ["QUEUED + FAILED(1) implies the start", run(), report(FAILED, 1), FAILED],
    ["RUNNING(1) + RUNNING(1) again is refused", running(1), report(RUNNING, 1), "stale_attempt"],
    ["RUNNING(1) + RUNNING(1) with log lines is accepted for them", running(1), report(RUNNING, 1, { logLines: [line(1)] }), RUNNING],
    ["RUNNING(2) + RUNNING(1) with log lines is refused (a superseded attempt)", running(2), report(RUNNING, 1, { logLines: [line(1)] }), "stale_attempt"],
    ["RETRY_WAIT(1) + RUNNING(1) with log lines is refused (the attempt ended)", run({ state: RETRY_WAIT, attempt: 1 }), report(RUNNING, 1, { logLines: [line(1)] }), "stale_attempt"],
    ["SUCCEEDED + RUNNING(1) with log lines is refused", run({ state: SUCCEEDED, attempt: 1 }), report(RUNNING, 1, { logLines: [line(1)] }), "run_ended"],
    ["RUNNING(1) + SUCCEEDED(1) ends it", running(1), report(SUCCEEDED, 1), SUCCEEDED],
    ["RUNNING(1) + TIMED_OUT(1) ends it", running(1), report(TIMED_OUT, 1), TIMED_OUT],
    ["RUNNING(1) + CANCELLED(1) ends it", running(1), report(CANCELLED, 1), CANCELLED],
    ["RUNNING(1) + RETRY_WAIT(1) waits", running(1), report(RETRY_WAIT, 1), RETRY_WAIT],
    ["RUNNING(2) + SUCCEEDED(1) from a superseded attempt is refused", running(2), report(SUCCEEDED, 1), "stale_attempt"],
    ["RUNNING(2) + RUNNING(1) is refused", running(2), report(RUNNING, 1), "stale_attempt"],
    ["RUNNING(1) + RUNNING(2): the run was handed on", running(1), report(RUNNING, 2), RUNNING],
    ["RETRY_WAIT(1) + RUNNING(2) retries", run({ state: RETRY_WAIT, attempt: 1 }), report(RUNNING, 2), RUNNING],
    ["RETRY_WAIT(1) + SUCCEEDED(1) is refused (attempt 1 already ended)", run({ state: RETRY_WAIT, attempt: 1 }), report(SUCCEEDED, 1), "stale_attempt"],
    ["SUCCEEDED + anything is refused", run({ state: SUCCEEDED, attempt: 1 }), report(RUNNING, 2), "run_ended"],
    ["CANCELLED + SUCCEEDED(1) is refused", run({ state: CANCELLED, attempt: 0 }), report(SUCCEEDED, 1), "run_ended"],
    ["FAILED + FAILED(1) again is refused", run({ state: FAILED, attempt: 1 }), report(FAILED, 1), "run_ended"],
  ];
  it.each(cases)("%s", (_name, before, input, expected) => {
    const result = transition(before, input, date(9));
    if (typeof expected === "string") expect(result).toEqual({ ok: false, reason: expected });
    else {
      expect(result.ok).toBe(true);
      if (result.ok) expect(result.run.state).toBe(expected);
    }
  });
});

describe("run lifecycle: what an accepted report records", () => {
  it("a running attempt's log lines change nothing: the same run, no event", () => {
    const before = running(1);
    const result = transition(before, report(RUNNING, 1, { logLines: [line(1), line(2)] }), date(9));
    expect(result).toEqual({ ok: true, run: before, events: [] });
    expect(result.ok && result.run).toBe(before);
  });

  it("an implied start writes RUNNING at the report's start_time, then the end", () => {
    const result = transition(run(), report(SUCCEEDED, 1, { startTime: timestampFromDate(date(3)), output: { n: 1 } }), date(9));
    if (!result.ok) throw new Error(result.reason);
    expect(result.events.map((e) => [RunState[e.state], e.attempt, e.time])).toEqual([
      ["RUNNING", 1, at(3)],
      ["SUCCEEDED", 1, at(5)],
    ]);
    expect(result.run).toMatchObject({ state: SUCCEEDED, attempt: 1, start_time: at(3), end_time: at(5), output: { n: 1 }, error: "" });
    expect(result.run.attempts).toEqual([
      { attempt: 1, state: "RUN_STATE_SUCCEEDED", startTime: at(3), endTime: at(5), error: "", workerId: "w2" },
    ]);
  });

  it("a start without start_time is taken at the report's time", () => {
    const result = transition(run(), report(FAILED, 1, { error: "boom" }), date(9));
    if (!result.ok) throw new Error(result.reason);
    expect(result.events[0]).toMatchObject({ state: RUNNING, time: at(5) });
    expect(result.run).toMatchObject({ error: "boom", end_time: at(5) });
  });

  it("a handed-on attempt closes the open one as lost", () => {
    const result = transition(running(1), report(RUNNING, 2), date(9));
    if (!result.ok) throw new Error(result.reason);
    expect(result.run.attempts.map((a) => [a.attempt, a.state, a.endTime ?? null])).toEqual([
      [1, "RUN_STATE_FAILED", at(5)],
      [2, "RUN_STATE_RUNNING", null],
    ]);
    expect(result.run.attempts[0].error).toMatch(/^lost: no heartbeat from worker w1; superseded by attempt 2/);
    expect(result.run.start_time).toEqual(at(1));
  });

  it("RETRY_WAIT records the attempt's own outcome and leaves the run open", () => {
    const result = transition(running(1), report(RETRY_WAIT, 1, { error: "slow", attemptState: TIMED_OUT }), date(9));
    if (!result.ok) throw new Error(result.reason);
    expect(result.run).toMatchObject({ state: RETRY_WAIT, end_time: null, error: "slow" });
    expect(result.run.attempts[0]).toMatchObject({ state: "RUN_STATE_TIMED_OUT", error: "slow" });
    expect(result.events.map((e) => e.state)).toEqual([RETRY_WAIT]);
  });

  it("a run that succeeds on a retry has no error; the failed attempt keeps its own", () => {
    const failed = transition(running(1), report(RETRY_WAIT, 1, { error: "first try failed" }), date(9));
    if (!failed.ok) throw new Error(failed.reason);
    const succeeded = transition(failed.run, report(SUCCEEDED, 2), date(9));
    if (!succeeded.ok) throw new Error(succeeded.reason);
    expect(succeeded.run.error).toBe("");
    expect(succeeded.run.attempts.map((a) => a.error)).toEqual(["first try failed", ""]);
  });

  it("a report confirms an unrecorded dispatch with its stream timestamp, and never moves a recorded one", () => {
    const dispatchTime = timestampFromDate(date(0.5));
    const first = transition(run(), report(RUNNING, 1, { dispatchTime }), date(9));
    expect(first.ok && first.run.dispatch_time).toEqual(at(0.5));
    const recorded = transition(run({ dispatch_time: at(0.4) }), report(RUNNING, 1, { dispatchTime }), date(9));
    expect(recorded.ok && recorded.run.dispatch_time).toEqual(at(0.4));
    const without = transition(run(), report(RUNNING, 1), date(9));
    expect(without.ok && without.run.dispatch_time).toBeNull();
  });

  it("long errors are cut", () => {
    const result = transition(running(1), report(FAILED, 1, { error: "x".repeat(10_000) }), date(9));
    if (!result.ok) throw new Error(result.reason);
    expect(result.run.error.length).toBe(4097);
    expect(result.events[0].error).toBe(result.run.error);
  });

  it("never changes the run it was given", () => {
    const before = running(1);
    const copy = structuredClone(before);
    transition(before, report(RUNNING, 2), date(9));
    transition(before, { kind: "cancel" }, date(9));
    expect(before).toEqual(copy);
  });
});

describe("run lifecycle: cancellation", () => {
  const cases: [string, RunRecord, RunState | "run_ended", number][] = [
    ["QUEUED ends CANCELLED", run(), CANCELLED, 1],
    ["RETRY_WAIT ends CANCELLED", run({ state: RETRY_WAIT, attempt: 1 }), CANCELLED, 1],
    ["RUNNING is flagged; its worker ends it", running(1), RUNNING, 0],
    ["SUCCEEDED cannot be cancelled", run({ state: SUCCEEDED, attempt: 1 }), "run_ended", 0],
    ["CANCELLED cannot be cancelled again", run({ state: CANCELLED }), "run_ended", 0],
  ];
  it.each(cases)("%s", (_name, before, expected, events) => {
    const result = transition(before, { kind: "cancel" }, date(9));
    if (expected === "run_ended") {
      expect(result).toEqual({ ok: false, reason: "run_ended" });
      return;
    }
    if (!result.ok) throw new Error(result.reason);
    expect(result.run.state).toBe(expected);
    expect(result.run.cancel_requested_time).toEqual(at(9));
    expect(result.events).toHaveLength(events);
    if (events) expect(result.events[0]).toMatchObject({ state: CANCELLED, attempt: before.attempt, time: at(9) });
    if (expected === CANCELLED) expect(result.run.end_time).toEqual(at(9));
  });

  it("a second cancel keeps the first request's time", () => {
    const result = transition({ ...running(1), cancel_requested_time: at(2) }, { kind: "cancel" }, date(9));
    expect(result.ok && result.run.cancel_requested_time).toEqual(at(2));
  });
});
