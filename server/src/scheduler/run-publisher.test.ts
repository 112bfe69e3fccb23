import { describe, expect, it } from "vitest";
import { create, equals, fromBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { JobSchema, RunAssignmentSchema, toSchedule } from "@chime/sdk";
import { msToDuration } from "../util/time.js";
import { createDispatchRecorder, encodeAssignment, type AckedRuns } from "./run-publisher.js";

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

describe("dispatch recorder", () => {
  const acked = (prefix: string, n: number): AckedRuns => Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i}`, ackedAt: new Date() }));

  it("records the runs of publishes acknowledged within its window with one write, settling each after it", async () => {
    const writes: string[][] = [];
    const record = createDispatchRecorder({ windowMs: 30, write: async (rows) => void writes.push(rows.map((r) => r.id)) });
    const settled: string[] = [];
    const first = record(acked("a", 2)).then(() => settled.push("a"));
    const second = record(acked("b", 3)).then(() => settled.push("b"));
    expect(writes).toEqual([]);
    await Promise.all([first, second]);
    expect(writes).toEqual([["a0", "a1", "b0", "b1", "b2"]]);
    expect(settled).toEqual(["a", "b"]);
    // A later publish starts a new window.
    await record(acked("c", 1));
    expect(writes).toHaveLength(2);
  });

  it("writes a large batch at once, and rejects every waiter of a failed write", async () => {
    const writes: number[] = [];
    const record = createDispatchRecorder({ windowMs: 60_000, write: async (rows) => void writes.push(rows.length) });
    await record(acked("big", 600));
    expect(writes).toEqual([600]);

    const failing = createDispatchRecorder({ windowMs: 10, write: async () => Promise.reject(new Error("fenced out")) });
    const results = await Promise.allSettled([failing(acked("x", 1)), failing(acked("y", 1))]);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
  });
});
