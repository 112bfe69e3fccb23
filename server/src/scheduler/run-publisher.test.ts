import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { create, equals, fromBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { JobSchema, RunAssignmentSchema, toSchedule } from "@chime/sdk";
import { msToDuration } from "../util/time.js";
import { createDeferredDispatchRecorder, encodeAssignment, longestRecordWaitMs, type AckedRuns } from "./run-publisher.js";

const job = create(JobSchema, {
  id: "0190f5a0-0000-7000-8000-000000000001",
  name: "nightly",
  namespace: "billing",
  queue: "http",
  labels: { team: "core", tier: "1" },
  payload: { n: 3, nested: { ok: true } },
  retryPolicy: { maxAttempts: 4, initialBackoff: msToDuration(1500), backoffMultiplier: 2 },
  attemptTimeout: msToDuration(30_000),
  http: { method: "PUT", url: "https://example.invalid/hook", headers: { "x-a": "b" }, body: "{}" },
  schedule: toSchedule({ cron: "*/5 * * * * *" }),
});

describe("encodeAssignment", () => {
  it("decodes to the whole RunAssignment of the run and its job, for every run of one job", () => {
    for (const [id, at] of [
      ["0190f5a0-0000-7000-8000-00000000aaaa", "2026-03-01T10:00:05.000Z"],
      ["0190f5a0-0000-7000-8000-00000000bbbb", "2026-03-01T10:00:10.250Z"],
    ] as const) {
      const decoded = fromBinary(RunAssignmentSchema, encodeAssignment({ id, scheduledTime: new Date(at), job }));
      const expected = create(RunAssignmentSchema, {
        runId: id,
        jobId: job.id,
        jobName: "nightly",
        namespace: "billing",
        queue: "http",
        scheduledTime: timestampFromDate(new Date(at)),
        payload: job.payload,
        labels: job.labels,
        retryPolicy: job.retryPolicy,
        attemptTimeout: job.attemptTimeout,
        http: job.http,
      });
      expect(equals(RunAssignmentSchema, decoded, expected)).toBe(true);
    }
  });
});

describe("deferred dispatch recorder", () => {
  const acked = (prefix: string, n: number): AckedRuns => Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i}`, ackedAt: new Date() }));
  beforeEach(() => void vi.useFakeTimers());
  afterEach(() => void vi.useRealTimers());

  it("settles each publish at once and writes each run once its delay is over, never younger", async () => {
    const writes: string[][] = [];
    const record = createDeferredDispatchRecorder({ delayMs: 1000, write: async (rows) => void writes.push(rows.map((r) => r.id)), onError: () => undefined, now: Date.now });
    await record(acked("a", 2));
    await vi.advanceTimersByTimeAsync(600);
    await record(acked("b", 3));
    expect(writes).toEqual([]);
    await vi.advanceTimersByTimeAsync(399);
    expect(writes).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    // b's runs were published 400 ms ago: their workers may not have reported yet.
    expect(writes).toEqual([["a0", "a1"]]);
    await vi.advanceTimersByTimeAsync(599);
    expect(writes).toEqual([["a0", "a1"]]);
    await vi.advanceTimersByTimeAsync(1);
    expect(writes).toEqual([["a0", "a1"], ["b0", "b1", "b2"]]);
    // A later publish starts a new delay.
    await record(acked("c", 1));
    await vi.advanceTimersByTimeAsync(999);
    expect(writes).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(writes).toEqual([["a0", "a1"], ["b0", "b1", "b2"], ["c0"]]);
  });

  it("under a steady stream of publishes writes at most every half delay, each run aged between one and one and a half delays", async () => {
    const published = new Map<string, number>();
    const writes: { at: number; ages: number[] }[] = [];
    const record = createDeferredDispatchRecorder({
      delayMs: 1000,
      write: async (rows) => void writes.push({ at: Date.now(), ages: rows.map((r) => Date.now() - published.get(r.id)!) }),
      onError: () => undefined,
      now: Date.now,
    });
    for (let pass = 0; pass < 40; pass++) {
      const runs = acked(`p${pass}-`, 10);
      for (const run of runs) published.set(run.id, Date.now());
      await record(runs);
      await vi.advanceTimersByTimeAsync(100);
    }
    await vi.advanceTimersByTimeAsync(2000);
    const ages = writes.flatMap((w) => w.ages);
    expect(ages).toHaveLength(400);
    expect(Math.min(...ages)).toBeGreaterThanOrEqual(1000);
    expect(Math.max(...ages)).toBeLessThanOrEqual(longestRecordWaitMs(1000));
    for (let i = 1; i < writes.length; i++) expect(writes[i].at - writes[i - 1].at).toBeGreaterThanOrEqual(500);
  });

  it("writes at once past its memory bound, and reports a failed write without failing the publish", async () => {
    const writes: number[] = [];
    const record = createDeferredDispatchRecorder({ delayMs: 60_000, write: async (rows) => void writes.push(rows.length), onError: () => undefined });
    await record(acked("big", 100_000));
    expect(writes).toEqual([100_000]);

    const errors: unknown[] = [];
    const failing = createDeferredDispatchRecorder({ delayMs: 10, write: () => Promise.reject(new Error("fenced out")), onError: (e) => errors.push(e), now: Date.now });
    await expect(failing(acked("x", 1))).resolves.toBeUndefined();
    await vi.advanceTimersByTimeAsync(10);
    expect(errors.map((e) => (e as Error).message)).toEqual(["fenced out"]);
  });
});
