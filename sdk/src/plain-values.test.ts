import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { JobSchema, JobState, MisfirePolicy, OverlapPolicy } from "./gen/chime/v1/job_pb.js";
import { RunSchema, RunState, RunTrigger } from "./gen/chime/v1/run_pb.js";
import { JobChangeKind, ScheduleEventReason, ScheduleEventSchema } from "./gen/chime/v1/watch_service_pb.js";
import { toJob, type JobSpec } from "./job-spec.js";
import { durationFromMs } from "./schedule-spec.js";
import { enumName, msOf, plainJob, plainRun, plainWatchJobMessage, scheduleSpecOf } from "./plain-values.js";
import { toSchedule, type ScheduleSpec } from "./schedule-spec.js";

// Every value of every enum the plain view names: generated numbers against the expected names.
const ENUMS = [
  ["JobState", JobState, [[JobState.UNSPECIFIED, undefined], [JobState.ACTIVE, "active"], [JobState.PAUSED, "paused"], [JobState.COMPLETED, "completed"]]],
  ["RunState", RunState, [
    [RunState.UNSPECIFIED, undefined], [RunState.QUEUED, "queued"], [RunState.RUNNING, "running"], [RunState.RETRY_WAIT, "retry_wait"],
    [RunState.SUCCEEDED, "succeeded"], [RunState.FAILED, "failed"], [RunState.CANCELLED, "cancelled"], [RunState.TIMED_OUT, "timed_out"],
  ]],
  ["RunTrigger", RunTrigger, [[RunTrigger.UNSPECIFIED, undefined], [RunTrigger.SCHEDULE, "schedule"], [RunTrigger.MANUAL, "manual"]]],
  ["OverlapPolicy", OverlapPolicy, [
    [OverlapPolicy.UNSPECIFIED, undefined], [OverlapPolicy.ALLOW, "allow"], [OverlapPolicy.SKIP, "skip"],
    [OverlapPolicy.BUFFER_ONE, "buffer_one"], [OverlapPolicy.CANCEL_PREVIOUS, "cancel_previous"],
  ]],
  ["MisfirePolicy", MisfirePolicy, [[MisfirePolicy.UNSPECIFIED, undefined], [MisfirePolicy.SKIP, "skip"], [MisfirePolicy.RUN_ONCE, "run_once"], [MisfirePolicy.RUN_ALL, "run_all"]]],
  ["JobChangeKind", JobChangeKind, [
    [JobChangeKind.UNSPECIFIED, undefined], [JobChangeKind.UPDATED, "updated"], [JobChangeKind.PAUSED, "paused"],
    [JobChangeKind.RESUMED, "resumed"], [JobChangeKind.COMPLETED, "completed"], [JobChangeKind.DELETED, "deleted"],
    [JobChangeKind.AUTO_PAUSED, "auto_paused"],
  ]],
  ["ScheduleEventReason", ScheduleEventReason, [
    [ScheduleEventReason.UNSPECIFIED, undefined], [ScheduleEventReason.OVERLAP_SKIPPED, "overlap_skipped"], [ScheduleEventReason.BUFFERED, "buffered"],
    [ScheduleEventReason.MISSED, "missed"], [ScheduleEventReason.CAUGHT_UP, "caught_up"], [ScheduleEventReason.LATE, "late"],
    [ScheduleEventReason.DST_SKIPPED, "dst_skipped"], [ScheduleEventReason.PAUSED, "paused"],
  ]],
] as const;

describe("enumName", () => {
  for (const [enumLabel, enumObject, cases] of ENUMS) {
    it(`names every ${enumLabel} value`, () => {
      // Every generated value is in the table, so a value added to the proto fails here.
      expect(cases.map(([value]) => value).sort()).toEqual(Object.values(enumObject).filter((v) => typeof v === "number").sort());
      for (const [value, name] of cases) expect(enumName(enumObject as Record<string, string | number>, value), `${enumLabel} ${value}`).toBe(name);
    });
  }
  it("gives undefined for a number the SDK does not know", () => {
    expect(enumName(RunState, 99)).toBeUndefined();
  });
});

describe("msOf", () => {
  const cases: Array<[number | undefined, number | undefined]> = [[undefined, undefined], [0, 0], [250, 250], [1500, 1500], [86_400_000, 86_400_000], [0.5, 0.5]];
  for (const [ms, expected] of cases) it(`${ms} ms`, () => expect(msOf(ms === undefined ? undefined : durationFromMs(ms))).toBe(expected));
});

describe("scheduleSpecOf reverses toSchedule", () => {
  const start = new Date("2026-01-01T00:00:00Z");
  const cases: Array<[string, ScheduleSpec]> = [
    ["immediate", "immediate"],
    ["immediate with bounds", { immediate: true, maxRuns: 3 }],
    ["at", { at: new Date("2026-03-01T12:00:00.250Z") }],
    ["cron", { cron: "0 * * * *" }],
    ["cron in a time zone with bounds", { cron: "0 9 * * *", timeZone: "Europe/Paris", startTime: start, endTime: new Date("2027-01-01T00:00:00Z") }],
    ["cron with DST policies", { cron: "30 2 * * *", timeZone: "America/New_York", dstGap: "skip", dstRepeat: "both" }],
    ["interval", { every: 90_000 }],
    ["interval with anchor", { every: 5000, anchor: start }],
  ];
  for (const [label, spec] of cases) it(label, () => expect(scheduleSpecOf(toSchedule(spec))).toEqual(spec));
  it("absent schedule", () => expect(scheduleSpecOf(undefined)).toBeUndefined());
});

describe("plainJob", () => {
  const created = new Date("2026-05-01T10:00:00.123Z");
  const cases: Array<[string, JobSpec]> = [
    ["a minimal job", { name: "n", queue: "q", schedule: "immediate" }],
    [
      "every field",
      {
        name: "full",
        queue: "q",
        schedule: { cron: "*/5 * * * *", timeZone: "UTC" },
        payload: { a: 1, nested: { b: [true, null] } },
        labels: { team: "ops" },
        retry: { maxAttempts: 5, initialBackoff: 1000, maxBackoff: 60_000, multiplier: 2, jitter: 0.2 },
        attemptTimeout: 30_000,
        overlap: "cancel_previous",
        maxConcurrentRuns: 4,
        misfire: "run_all",
        misfireWindow: 120_000,
        pauseAfterFailures: 3,
        maxLag: 5000,
        runRetention: 864_000_000,
        http: { method: "POST", url: "https://example.com/hook", headers: { "x-a": "1" }, body: "{}", keepHeaders: ["x-request-id"] },
      },
    ],
  ];
  for (const [label, spec] of cases) {
    it(`${label}: the spec comes back as it went in, plus the server's fields`, () => {
      const job = toJob(spec, "id-1");
      job.state = JobState.ACTIVE;
      job.runCount = 42n;
      job.createTime = timestampFromDate(created);
      const plain = plainJob(job);
      const { id, namespace, state, nextRunTime, runCount, createTime, updateTime, ...asSpec } = plain;
      expect({ id, namespace, state, nextRunTime, runCount, createTime, updateTime }).toEqual({
        id: "id-1", namespace: "", state: "active", nextRunTime: undefined, runCount: 42, createTime: created, updateTime: undefined,
      });
      expect(asSpec).toEqual({ labels: {}, ...spec });
    });
  }
  it("says why a job paused itself", () => {
    const paused = new Date("2026-05-02T08:00:00Z");
    const job = create(JobSchema, { id: "x", autoPause: { failureStreak: 3, lastRunId: "r-9", time: timestampFromDate(paused) } });
    expect(plainJob(job).autoPause).toEqual({ failureStreak: 3, lastRunId: "r-9", time: paused });
    expect(plainJob(create(JobSchema, { id: "y" })).autoPause).toBeUndefined();
  });
  it("a job without a schedule reads as immediate and an unset state as undefined", () => {
    const plain = plainJob(create(JobSchema, { id: "x" }));
    expect(plain.schedule).toBe("immediate");
    expect(plain.state).toBeUndefined();
  });
});

describe("plainRun", () => {
  it("converts timestamps to Dates, the lag to ms and enums to names; absent fields stay undefined", () => {
    const scheduled = new Date("2026-05-01T10:00:00Z");
    const run = create(RunSchema, {
      id: "r", jobId: "j", queue: "q", state: RunState.RETRY_WAIT, trigger: RunTrigger.MANUAL, attempt: 2,
      scheduledTime: timestampFromDate(scheduled), dispatchLag: durationFromMs(12.5), error: "boom",
      attempts: [{ attempt: 1, state: RunState.FAILED, startTime: timestampFromDate(scheduled), error: "boom", workerId: "w1" }],
    });
    expect(plainRun(run)).toEqual({
      id: "r", jobId: "j", queue: "q", state: "retry_wait", trigger: "manual", attempt: 2,
      scheduledTime: scheduled, dispatchTime: undefined, dispatchLagMs: 12.5, startTime: undefined, endTime: undefined,
      output: undefined, error: "boom",
      attempts: [{ attempt: 1, state: "failed", startTime: scheduled, endTime: undefined, error: "boom", workerId: "w1" }],
      createTime: undefined, updateTime: undefined,
    });
  });
});

describe("plainWatchJobMessage", () => {
  it("converts a schedule event: its reason named, its times as Dates", () => {
    const first = new Date("2026-05-01T10:00:00Z");
    const last = new Date("2026-05-01T10:00:09Z");
    const event = create(ScheduleEventSchema, {
      jobId: "j", reason: ScheduleEventReason.MISSED, count: 10, firstScheduledTime: timestampFromDate(first), lastScheduledTime: timestampFromDate(last), resumeToken: "t",
    });
    expect(plainWatchJobMessage({ kind: "scheduleEvent", event })).toEqual({
      kind: "scheduleEvent",
      event: { jobId: "j", reason: "missed", count: 10, firstScheduledTime: first, lastScheduledTime: last, time: undefined, resumeToken: "t" },
    });
  });
  it("names the change kind and converts its job", () => {
    const job = toJob({ name: "n", queue: "q", schedule: "immediate" }, "j");
    const message = plainWatchJobMessage({ kind: "jobChange", change: { $typeName: "chime.v1.JobChange", kind: JobChangeKind.PAUSED, job, resumeToken: "t" } });
    expect(message).toMatchObject({ kind: "jobChange", change: "paused", job: { id: "j", name: "n" }, time: undefined, resumeToken: "t" });
  });
});
