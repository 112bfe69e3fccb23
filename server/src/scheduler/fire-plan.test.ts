import { describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { JobSchema, JobState, MisfirePolicy, OverlapPolicy, type Job } from "@chime/sdk";
import { toSchedule, type ScheduleSpec } from "@chime/sdk";
import { msToDuration as durationFromMs } from "../util/time.js";
import { planFires, type ActiveRuns } from "./fire-plan.js";

const IDLE: ActiveRuns = { active: 0, held: 0 };
const OPTIONS = { misfireThresholdMs: 5000, maxFiresPerPass: 1000 };
const iso = (dates: Date[]) => dates.map((d) => d.toISOString());

function job(schedule: ScheduleSpec, fields: Partial<Omit<Job, "$typeName" | "$unknown">> = {}): Job {
  return create(JobSchema, {
    id: "j",
    schedule: toSchedule(schedule),
    misfirePolicy: MisfirePolicy.RUN_ONCE,
    overlapPolicy: OverlapPolicy.ALLOW,
    misfireWindow: durationFromMs(3_600_000),
    ...fields,
  });
}

function plan(j: Job, nextRunTime: string, now: string, active = IDLE, runCount = 0) {
  return planFires({ job: j, nextRunTime: new Date(nextRunTime), runCount, createTime: new Date("2026-01-01T00:00:00Z") }, new Date(now), active, OPTIONS);
}

describe("planFires: on-time firing", () => {
  it("fires every due second of a per-second cron and moves to the next one", () => {
    const p = plan(job({ cron: "* * * * * *" }), "2026-03-01T10:00:00Z", "2026-03-01T10:00:02.300Z");
    expect(iso(p.fires.map((f) => f.scheduledTime))).toEqual(["2026-03-01T10:00:00.000Z", "2026-03-01T10:00:01.000Z", "2026-03-01T10:00:02.000Z"]);
    expect(p.next?.toISOString()).toBe("2026-03-01T10:00:03.000Z");
    expect(p.runCount).toBe(3);
    expect(p.state).toBe(JobState.ACTIVE);
  });

  it("completes a one-shot after its run, and a schedule at max_runs", () => {
    const at = plan(job({ at: new Date("2026-03-01T10:00:00Z") }), "2026-03-01T10:00:00Z", "2026-03-01T10:00:00.010Z");
    expect(at.fires).toHaveLength(1);
    expect(at.state).toBe(JobState.COMPLETED);
    expect(at.next).toBeNull();
    const capped = plan(job({ every: "1s", anchor: new Date("2026-03-01T10:00:00Z"), maxRuns: 2 }), "2026-03-01T10:00:01Z", "2026-03-01T10:00:01.005Z", IDLE, 1);
    expect(capped.fires).toHaveLength(1);
    expect(capped.state).toBe(JobState.COMPLETED);
  });

  it("stops at end_time", () => {
    const p = plan(job({ cron: "* * * * * *", endTime: new Date("2026-03-01T10:00:01Z") }), "2026-03-01T10:00:01Z", "2026-03-01T10:00:01.002Z");
    expect(p.fires).toHaveLength(1);
    expect(p.state).toBe(JobState.COMPLETED);
  });
});

describe("planFires: misfire policies after downtime", () => {
  // Down from 10:00:00 to 10:05:00.5 with a per-second cron: 300 missed seconds.
  const next = "2026-03-01T10:00:00Z";
  const now = "2026-03-01T10:05:00.500Z";

  it("SKIP drops missed times and fires only the recent ones", () => {
    const p = plan(job({ cron: "* * * * * *" }, { misfirePolicy: MisfirePolicy.SKIP }), next, now);
    expect(iso(p.fires.map((f) => f.scheduledTime))).toEqual(["2026-03-01T10:04:56.000Z", "2026-03-01T10:04:57.000Z", "2026-03-01T10:04:58.000Z", "2026-03-01T10:04:59.000Z", "2026-03-01T10:05:00.000Z"]);
    expect(p.skipped).toBe(0);
    expect(p.next?.toISOString()).toBe("2026-03-01T10:05:01.000Z");
  });

  it("RUN_ONCE adds one catch-up run for the latest missed time", () => {
    const p = plan(job({ cron: "0 * * * * *" }), next, now);
    // Missed 10:00..10:04 (older than 5 s); 10:05:00 is recent.
    expect(iso(p.fires.map((f) => f.scheduledTime))).toEqual(["2026-03-01T10:04:00.000Z", "2026-03-01T10:05:00.000Z"]);
    expect(p.next?.toISOString()).toBe("2026-03-01T10:06:00.000Z");
  });

  it("RUN_ALL fires every missed time within the misfire window", () => {
    const all = plan(job({ cron: "0 * * * * *" }, { misfirePolicy: MisfirePolicy.RUN_ALL }), next, now);
    expect(all.fires).toHaveLength(6);
    const windowed = plan(job({ cron: "0 * * * * *" }, { misfirePolicy: MisfirePolicy.RUN_ALL, misfireWindow: durationFromMs(150_000) }), next, now);
    expect(iso(windowed.fires.map((f) => f.scheduledTime))).toEqual(["2026-03-01T10:03:00.000Z", "2026-03-01T10:04:00.000Z", "2026-03-01T10:05:00.000Z"]);
  });

  it("a missed one-shot runs once under RUN_ONCE and never under SKIP", () => {
    const once = plan(job({ at: new Date(next) }), next, now);
    expect(once.fires).toHaveLength(1);
    expect(once.state).toBe(JobState.COMPLETED);
    const skip = plan(job({ at: new Date(next) }, { misfirePolicy: MisfirePolicy.SKIP }), next, now);
    expect(skip.fires).toHaveLength(0);
    expect(skip.state).toBe(JobState.COMPLETED);
  });

  it("caps one pass and leaves the rest for the next", () => {
    const p = planFires(
      { job: job({ cron: "* * * * * *" }, { misfirePolicy: MisfirePolicy.RUN_ALL }), nextRunTime: new Date(next), runCount: 0, createTime: new Date(next) },
      new Date(now),
      IDLE,
      { misfireThresholdMs: 5000, maxFiresPerPass: 100 },
    );
    expect(p.fires).toHaveLength(100);
    expect(p.next?.toISOString()).toBe("2026-03-01T10:01:40.000Z");
  });
});

describe("planFires: overlap policies", () => {
  const due = ["2026-03-01T10:00:00Z", "2026-03-01T10:00:00.010Z"] as const;
  const withPolicy = (overlapPolicy: OverlapPolicy, maxConcurrentRuns = 0) => job({ cron: "* * * * * *" }, { overlapPolicy, maxConcurrentRuns });

  it("SKIP does not fire while a run is active", () => {
    expect(plan(withPolicy(OverlapPolicy.SKIP), ...due, { active: 1, held: 0 }).fires).toHaveLength(0);
    expect(plan(withPolicy(OverlapPolicy.SKIP), ...due).fires).toHaveLength(1);
  });

  it("BUFFER_ONE holds one run while another is active, and no more", () => {
    expect(plan(withPolicy(OverlapPolicy.BUFFER_ONE), ...due, { active: 1, held: 0 }).fires).toEqual([
      { scheduledTime: new Date(due[0]), held: true },
    ]);
    expect(plan(withPolicy(OverlapPolicy.BUFFER_ONE), ...due, { active: 1, held: 1 }).fires).toHaveLength(0);
  });

  it("CANCEL_PREVIOUS cancels active runs and fires", () => {
    const p = plan(withPolicy(OverlapPolicy.CANCEL_PREVIOUS), ...due, { active: 1, held: 0 });
    expect(p.cancelActive).toBe(true);
    expect(p.fires).toHaveLength(1);
  });

  it("max_concurrent_runs bounds ALLOW", () => {
    const p = plan(withPolicy(OverlapPolicy.ALLOW, 2), "2026-03-01T10:00:00Z", "2026-03-01T10:00:02.5Z", { active: 1, held: 0 });
    expect(p.fires).toHaveLength(1);
    expect(p.skipped).toBe(2);
    expect(p.next?.toISOString()).toBe("2026-03-01T10:00:03.000Z");
  });
});

describe("planFires: daylight saving time (America/New_York)", () => {
  const tz = "America/New_York";

  it("spring forward: a 02:30 daily job fires once, at 03:30 EDT, on the day 02:30 does not exist", () => {
    // 2026-03-08: clocks jump from 02:00 EST to 03:00 EDT.
    const j = job({ cron: "0 30 2 * * *", timeZone: tz });
    const p = plan(j, "2026-03-07T07:30:00Z", "2026-03-07T07:30:00.010Z");
    expect(p.next?.toISOString()).toBe("2026-03-08T07:30:00.000Z"); // 03:30 EDT
    const day = plan(j, p.next!.toISOString(), "2026-03-08T07:30:00.010Z");
    expect(day.fires).toHaveLength(1);
    expect(day.next?.toISOString()).toBe("2026-03-09T06:30:00.000Z"); // 02:30 EDT the next day
  });

  it("fall back: a 01:30 daily job fires once on the day 01:30 happens twice", () => {
    // 2026-11-01: clocks go back from 02:00 EDT to 01:00 EST.
    const j = job({ cron: "0 30 1 * * *", timeZone: tz });
    const first = plan(j, "2026-11-01T05:30:00Z", "2026-11-01T05:30:00.010Z"); // 01:30 EDT
    expect(first.fires).toHaveLength(1);
    expect(first.next?.toISOString()).toBe("2026-11-02T06:30:00.000Z"); // not 06:30Z on Nov 1 (01:30 EST)
  });

  it("a per-second cron keeps one fire per real second through the fall-back hour", () => {
    const j = job({ cron: "* * * * * *", timeZone: tz });
    // 05:59:58Z is 01:59:58 EDT; 06:00:00Z is 01:00:00 EST.
    const p = plan(j, "2026-11-01T05:59:58Z", "2026-11-01T06:00:01.5Z");
    const seconds = p.fires.map((f) => f.scheduledTime.getTime());
    for (let i = 1; i < seconds.length; i++) expect(seconds[i] - seconds[i - 1]).toBeGreaterThan(0);
    expect(new Set(seconds).size).toBe(seconds.length);
  });
});

describe("planFires: schedule start time", () => {
  it("never fires before start_time", () => {
    const j = job({ every: "1s", anchor: new Date("2026-03-01T10:00:00Z"), startTime: new Date("2026-03-01T10:00:05Z") });
    const p = plan(j, "2026-03-01T10:00:05Z", "2026-03-01T10:00:05.5Z");
    expect(iso(p.fires.map((f) => f.scheduledTime))).toEqual(["2026-03-01T10:00:05.000Z"]);
    expect(timestampFromDate(p.next!).seconds).toBe(BigInt(Date.parse("2026-03-01T10:00:06Z") / 1000));
  });
});
