import { describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { JobSchema, JobState, MisfirePolicy, OverlapPolicy, type Job } from "@chime/sdk";
import { toSchedule, type ScheduleSpec } from "@chime/sdk";
import { msToDuration as durationFromMs } from "../util/time.js";
import { nextFireTime } from "../jobs/schedule.js";
import { planFires, resumeNext, type ActiveRuns } from "./fire-plan.js";

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
  // A per-second cron whose scheduler was away from its next fire time N until `now`. The
  // threshold (5 s) judges N alone: N at most 5 s late is on time, and so is every later due
  // time (each fires late); N later than that is a misfire, and the policy decides every due
  // time, however young.
  const N = Date.parse("2026-03-01T10:00:00Z");
  // Down from 10:00:00 to 10:05:00.5.
  const next = "2026-03-01T10:00:00Z";
  const now = "2026-03-01T10:05:00.500Z";
  const seconds = (from: number, count: number) => Array.from({ length: count }, (_, i) => new Date(from + i * 1000).toISOString());
  const policies = [
    ["SKIP", MisfirePolicy.SKIP],
    ["RUN_ONCE", MisfirePolicy.RUN_ONCE],
    ["RUN_ALL", MisfirePolicy.RUN_ALL],
  ] as const;
  const cases: { length: string; downMs: number; fires: Record<(typeof policies)[number][0], string[]> }[] = [
    { length: "below the threshold", downMs: 3_000, fires: { SKIP: seconds(N, 4), RUN_ONCE: seconds(N, 4), RUN_ALL: seconds(N, 4) } },
    { length: "at the threshold", downMs: 5_000, fires: { SKIP: seconds(N, 6), RUN_ONCE: seconds(N, 6), RUN_ALL: seconds(N, 6) } },
    { length: "just above the threshold", downMs: 5_001, fires: { SKIP: [], RUN_ONCE: seconds(N + 5_000, 1), RUN_ALL: seconds(N, 6) } },
    { length: "12.5 s", downMs: 12_500, fires: { SKIP: [], RUN_ONCE: seconds(N + 12_000, 1), RUN_ALL: seconds(N, 13) } },
    { length: "five minutes", downMs: 300_500, fires: { SKIP: [], RUN_ONCE: seconds(N + 300_000, 1), RUN_ALL: seconds(N, 301) } },
  ];
  for (const { length, downMs, fires } of cases) {
    for (const [name, misfirePolicy] of policies) {
      it(`an outage ${length}: ${name} fires ${fires[name].length}`, () => {
        const now = new Date(N + downMs);
        const p = plan(job({ cron: "* * * * * *" }, { misfirePolicy }), new Date(N).toISOString(), now.toISOString());
        expect(iso(p.fires.map((f) => f.scheduledTime))).toEqual(fires[name]);
        expect(p.next?.getTime()).toBe(Math.floor(now.getTime() / 1000) * 1000 + 1000);
      });
    }
  }

  it("SKIP fires at the next future time: the lookahead's times, none of the missed ones", () => {
    const now = new Date(N + 12_500);
    const p = planFires(
      { job: job({ cron: "* * * * * *" }, { misfirePolicy: MisfirePolicy.SKIP }), nextRunTime: new Date(N), runCount: 0, createTime: new Date(N) },
      now,
      IDLE,
      OPTIONS,
      new Date(now.getTime() + 1000),
    );
    expect(iso(p.fires.map((f) => f.scheduledTime))).toEqual(seconds(N + 13_000, 1));
  });

  it("a daily job's one late fire is on time within the threshold; past it, the policy decides", () => {
    const daily = (misfirePolicy: MisfirePolicy, misfireWindow = durationFromMs(3_600_000)) => job({ cron: "0 0 10 * * *" }, { misfirePolicy, misfireWindow });
    const at = "2026-03-01T10:00:00Z";
    for (const [, policy] of policies) expect(plan(daily(policy), at, "2026-03-01T10:00:05Z").fires).toHaveLength(1);
    expect(plan(daily(MisfirePolicy.SKIP), at, "2026-03-01T10:00:05.001Z").fires).toHaveLength(0);
    expect(plan(daily(MisfirePolicy.RUN_ONCE), at, "2026-03-01T10:30:00Z").fires).toHaveLength(1);
    expect(plan(daily(MisfirePolicy.RUN_ALL), at, "2026-03-01T10:30:00Z").fires).toHaveLength(1);
    // Older than the misfire window: RUN_ALL lets it go.
    expect(plan(daily(MisfirePolicy.RUN_ALL, durationFromMs(60_000)), at, "2026-03-01T10:30:00Z").fires).toHaveLength(0);
  });

  it("RUN_ONCE fires one run for many missed times, the latest; RUN_ALL only those within the misfire window", () => {
    const once = plan(job({ cron: "0 * * * * *" }), next, now);
    expect(iso(once.fires.map((f) => f.scheduledTime))).toEqual(["2026-03-01T10:05:00.000Z"]);
    expect(once.next?.toISOString()).toBe("2026-03-01T10:06:00.000Z");
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

describe("resumeNext then planFires: misfire policies after a pause", () => {
  // A per-second cron paused half a second before N and resumed `pausedMs` later; the
  // scheduler's first pass follows the resume by 10 ms. A pause's span is known: every time in
  // it is missed, whatever its length against the threshold (5 s).
  const N = Date.parse("2026-03-01T10:00:00Z");
  const pausedAt = N - 500;
  const createTime = new Date("2026-01-01T00:00:00Z");

  function firesAfterPause(misfirePolicy: MisfirePolicy, pausedMs: number, misfireWindow = durationFromMs(3_600_000)) {
    const j = job({ cron: "* * * * * *" }, { misfirePolicy, misfireWindow });
    const resumedAt = new Date(pausedAt + pausedMs);
    const context = { createTime, runCount: 0 };
    const next = resumeNext(j, new Date(N), resumedAt, context) ?? nextFireTime(j.schedule!, resumedAt, context)!;
    const passAt = new Date(resumedAt.getTime() + 10);
    if (next > passAt) return [];
    const p = planFires({ job: j, nextRunTime: next, runCount: 0, createTime }, passAt, IDLE, OPTIONS);
    return p.fires.map((f) => f.scheduledTime.getTime());
  }

  const lengths = [
    ["below the threshold", 3_000],
    ["at the threshold", 5_000],
    ["above the threshold", 8_000],
    ["a day", 86_400_000],
  ] as const;
  for (const [length, pausedMs] of lengths) {
    const missed = Math.floor(pausedMs / 1000); // seconds N .. in the paused span
    it(`paused ${length}: SKIP fires none of the ${missed} missed times, RUN_ONCE one, RUN_ALL each within the window`, () => {
      expect(firesAfterPause(MisfirePolicy.SKIP, pausedMs)).toEqual([]);
      expect(firesAfterPause(MisfirePolicy.RUN_ONCE, pausedMs)).toEqual([N + (missed - 1) * 1000]);
      const all = firesAfterPause(MisfirePolicy.RUN_ALL, pausedMs);
      const inWindow = Math.min(missed, 1000); // one pass fires at most 1,000; the rest follow
      expect(all).toHaveLength(inWindow);
      if (pausedMs <= 3_600_000) expect(all[0]).toBe(N);
      for (let i = 1; i < all.length; i++) expect(all[i] - all[i - 1]).toBe(1000);
    });
  }

  it("RUN_ALL after a pause longer than the misfire window starts at the window", () => {
    const all = firesAfterPause(MisfirePolicy.RUN_ALL, 8_000, durationFromMs(3_000));
    // The window reaches back 3 s from the resume (N + 4.5 s): N + 5 s is its first time.
    expect(all).toEqual([N + 5_000, N + 6_000, N + 7_000]);
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

  it("spring forward with dstGap skip: the 02:30 job does not fire on the day 02:30 does not exist", () => {
    const j = job({ cron: "0 30 2 * * *", timeZone: tz, dstGap: "skip" });
    const p = plan(j, "2026-03-07T07:30:00Z", "2026-03-07T07:30:00.010Z"); // 02:30 EST
    expect(p.fires).toHaveLength(1);
    expect(p.next?.toISOString()).toBe("2026-03-09T06:30:00.000Z"); // 02:30 EDT on 03-09; nothing on 03-08
  });

  it("fall back with dstRepeat both: the 01:30 job fires at 01:30 EDT and again at 01:30 EST", () => {
    const j = job({ cron: "0 30 1 * * *", timeZone: tz, dstRepeat: "both" });
    const first = plan(j, "2026-11-01T05:30:00Z", "2026-11-01T05:30:00.010Z"); // 01:30 EDT
    expect(first.next?.toISOString()).toBe("2026-11-01T06:30:00.000Z"); // 01:30 EST
    // Down through both: a RUN_ALL job (two-hour window) catches up each occurrence, oldest first.
    const caughtUp = plan({ ...j, misfirePolicy: MisfirePolicy.RUN_ALL, misfireWindow: durationFromMs(7_200_000) }, "2026-11-01T05:30:00Z", "2026-11-01T06:45:00Z");
    expect(iso(caughtUp.fires.map((f) => f.scheduledTime))).toEqual(["2026-11-01T05:30:00.000Z", "2026-11-01T06:30:00.000Z"]);
    expect(caughtUp.next?.toISOString()).toBe("2026-11-02T06:30:00.000Z");
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
