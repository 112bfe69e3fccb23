import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { RunState, RunStatusUpdateSchema } from "@chime/sdk";
import { describe, expect, it } from "vitest";
import { placeEvents, rowEndEvent, rowStartEvent } from "./run-event-placement.js";
import { transition, type RunEventRecord, type RunInput, type RunRecord } from "./run-lifecycle.js";
import { runRecord } from "./run-record-fixture.js";

const T0 = Date.parse("2026-12-01T10:00:00.000Z");
const date = (seconds: number) => new Date(T0 + seconds * 1000);
const { RUNNING, RETRY_WAIT, SUCCEEDED, FAILED, CANCELLED } = RunState;

const queued = runRecord();

const report = (state: RunState, attempt: number, second: number, error = ""): RunInput => ({
  kind: "report",
  update: create(RunStatusUpdateSchema, { runId: queued.id, jobId: queued.job_id, state, attempt, time: timestampFromDate(date(second)), error, workerId: "w" }),
});
const cancel: RunInput = { kind: "cancel" };

/** Applies inputs as the store does (one batch), returning the final run and the batch's events. */
function apply(run: RunRecord, inputs: RunInput[]): { run: RunRecord; events: RunEventRecord[] } {
  const events: RunEventRecord[] = [];
  for (const input of inputs) {
    const result = transition(run, input, date(100));
    if (!result.ok) throw new Error(result.reason);
    run = result.run;
    events.push(...result.events);
  }
  return { run, events };
}

/** The run after writing `inputs` with the cursors the store would give it (the placement's slots filled). */
function written(run: RunRecord, inputs: RunInput[], cursors: { start?: string; end?: string }): RunRecord {
  const { run: after, events } = apply(run, inputs);
  const placement = placeEvents(run, after, events);
  const slot = (s: string, old: string | null, fresh: string | undefined) => (s === "keep" ? old : s === "new" ? fresh! : null);
  return { ...after, start_cursor: slot(placement.start, run.start_cursor, cursors.start), end_cursor: slot(placement.end, run.end_cursor, cursors.end) };
}

const brief = (e: RunEventRecord) => [RunState[e.state], e.attempt];

describe("run event placement: which events the run row shows, which go to run_events", () => {
  const runningAt1 = written(queued, [report(RUNNING, 1, 1)], { start: "11" });
  const waitingAt2 = written(runningAt1, [report(RETRY_WAIT, 1, 2, "boom")], { end: "12" });
  const cases: [string, RunRecord, RunInput[], { start: string; end: string; spilled: [string, unknown[]][]; appended: unknown[][] }][] = [
    ["a RUNNING goes in the row", queued, [report(RUNNING, 1, 1)], { start: "new", end: "clear", spilled: [], appended: [] }],
    ["RUNNING and SUCCEEDED in one batch: both in the row", queued, [report(RUNNING, 1, 1), report(SUCCEEDED, 1, 2)], { start: "new", end: "new", spilled: [], appended: [] }],
    ["an end with its start implied: both in the row", queued, [report(SUCCEEDED, 1, 2)], { start: "new", end: "new", spilled: [], appended: [] }],
    ["the end of a running attempt: start kept, end in the row", runningAt1, [report(FAILED, 1, 3, "x")], { start: "keep", end: "new", spilled: [], appended: [] }],
    ["a retry starts: the first attempt's events move out with their cursors", waitingAt2, [report(RUNNING, 2, 4)], {
      start: "new", end: "clear", spilled: [["11", ["RUNNING", 1]], ["12", ["RETRY_WAIT", 1]]], appended: [],
    }],
    ["a lost attempt superseded: its RUNNING moves out", runningAt1, [report(RUNNING, 2, 4)], { start: "new", end: "clear", spilled: [["11", ["RUNNING", 1]]], appended: [] }],
    ["a whole retry in one batch: the first attempt's events appended, the last one's in the row", queued,
      [report(RUNNING, 1, 1), report(RETRY_WAIT, 1, 2, "boom"), report(RUNNING, 2, 3), report(SUCCEEDED, 2, 4)], {
        start: "new", end: "new", spilled: [], appended: [["RUNNING", 1], ["RETRY_WAIT", 1]],
      }],
    ["a waiting run cancelled: RETRY_WAIT moves out, CANCELLED appended, RUNNING kept", waitingAt2, [cancel], {
      start: "keep", end: "clear", spilled: [["12", ["RETRY_WAIT", 1]]], appended: [["CANCELLED", 1]],
    }],
    ["a queued run cancelled: CANCELLED appended", queued, [cancel], { start: "clear", end: "clear", spilled: [], appended: [["CANCELLED", 0]] }],
    ["a running run cancelled is only flagged: nothing moves", runningAt1, [cancel], { start: "keep", end: "clear", spilled: [], appended: [] }],
    ["a worker's CANCELLED end goes in the row", runningAt1, [report(CANCELLED, 1, 5)], { start: "keep", end: "new", spilled: [], appended: [] }],
  ];
  it.each(cases)("%s", (_name, before, inputs, expected) => {
    const { run: after, events } = apply(before, inputs);
    const placement = placeEvents(before, after, events);
    expect({
      start: placement.start,
      end: placement.end,
      spilled: placement.spilled.map((e) => [e.cursor, brief(e)]),
      appended: placement.appended.map(brief),
    }).toEqual(expected);
  });

  it("the row shows exactly the events it holds cursors for (as the view reads them)", () => {
    const { run: after, events } = apply(queued, [report(RUNNING, 1, 1), report(FAILED, 1, 2, "x")]);
    expect(rowStartEvent(after)).toEqual(events[0]);
    expect(rowEndEvent(after)).toEqual(events[1]);
    expect(rowStartEvent(queued)).toBeUndefined();
    expect(rowEndEvent(runningAt1)).toBeUndefined();
  });
});
