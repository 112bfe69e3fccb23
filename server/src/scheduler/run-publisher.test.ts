import { describe, expect, it } from "vitest";
import { create, equals, fromBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { JobSchema, RunAssignmentSchema, toSchedule } from "@chime/sdk";
import { msToDuration } from "../util/time.js";
import { encodeAssignment } from "./run-publisher.js";

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
