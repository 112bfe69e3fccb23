import { describe, expect, it } from "vitest";
import { RunState } from "@chime/sdk/gen/run_pb";
import type { EndedRun } from "../events/log-consumer.js";
import { bucketOf } from "./histogram.js";
import { rollUp } from "./queue-stats-rollup.js";

const MINUTE = Date.UTC(2026, 11, 1, 12, 0);

const ended = (queue: string, state: RunState, endMs: number, startedMs: number | null, scheduledMs = startedMs ?? endMs): EndedRun => ({
  cursor: 1,
  runId: "r",
  jobId: "j",
  jobName: "job",
  queue,
  namespace: "default",
  labels: {},
  state,
  attempt: 1,
  time: new Date(endMs),
  error: "",
  scheduledTime: new Date(scheduledMs),
  startTime: startedMs === null ? null : new Date(startedMs),
});

describe("rollUp", () => {
  it("one row per queue, minute of the end and namespace, counted by outcome", () => {
    const rows = rollUp([
      ended("a", RunState.SUCCEEDED, MINUTE + 1_000, MINUTE + 900, MINUTE),
      ended("a", RunState.FAILED, MINUTE + 59_999, MINUTE + 59_000),
      ended("a", RunState.TIMED_OUT, MINUTE + 60_000, MINUTE + 30_000),
      ended("b", RunState.CANCELLED, MINUTE + 5_000, null),
      { ...ended("b", RunState.SUCCEEDED, MINUTE + 5_000, MINUTE), namespace: "other" },
    ]);
    expect(rows.map((r) => [r.queue, r.minute.getTime() - MINUTE, r.namespace, r.counts])).toEqual([
      ["a", 0, "default", { succeeded: 1, failed: 1, cancelled: 0, timed_out: 0 }],
      ["a", 60_000, "default", { succeeded: 0, failed: 0, cancelled: 0, timed_out: 1 }],
      ["b", 0, "default", { succeeded: 0, failed: 0, cancelled: 1, timed_out: 0 }],
      ["b", 0, "other", { succeeded: 1, failed: 0, cancelled: 0, timed_out: 0 }],
    ]);
    const first = rows[0];
    // Durations 100 ms and 999 ms; start lags 900 ms and 0.
    expect(first.durations[bucketOf(100)]).toBe(1);
    expect(first.durations[bucketOf(999)]).toBe(1);
    expect(first.lags[bucketOf(900)]).toBe(1);
    expect(first.lags[bucketOf(0)]).toBe(1);
    // A run that never started counts by outcome only.
    expect(rows[2].durations.every((n) => n === 0)).toBe(true);
  });

  it("ignores states that are not ends", () => {
    expect(rollUp([ended("a", RunState.RUNNING, MINUTE, MINUTE), ended("a", RunState.RETRY_WAIT, MINUTE, MINUTE)])).toEqual([]);
  });
});
