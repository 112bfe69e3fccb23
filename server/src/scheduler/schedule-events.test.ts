import { describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { JobSchema, MisfirePolicy, OverlapPolicy, ScheduleEventReason as R, toSchedule, type Job } from "@chime/sdk";
import { msToDuration } from "../util/time.js";
import { MAX_COUNTED_FIRES, missedWhilePaused, planFires, type ActiveRuns } from "./fire-plan.js";
import { scheduleEventReasonName, scheduleEventsOf } from "./schedule-events.js";

const OPTIONS = { misfireThresholdMs: 5000, maxFiresPerPass: 1000 };

function perSecond(fields: Partial<Omit<Job, "$typeName" | "$unknown">> = {}): Job {
  return create(JobSchema, {
    id: "j",
    schedule: toSchedule({ cron: "* * * * * *" }),
    misfirePolicy: MisfirePolicy.RUN_ONCE,
    overlapPolicy: OverlapPolicy.ALLOW,
    misfireWindow: msToDuration(3_600_000),
    ...fields,
  });
}

/** A job that fires once, at 10:00:00. */
function oneOff(fields: Partial<Omit<Job, "$typeName" | "$unknown">> = {}): Job {
  return perSecond({ schedule: toSchedule({ at: new Date("2026-03-01T10:00:00Z") }), ...fields });
}

/** The events of one pass, as [reason, count, first, last] (times as seconds past 10:00:00). */
function eventsOf(job: Job, nextRunTime: string, now: string, active: ActiveRuns = { active: 0, held: 0 }) {
  const at = new Date(`2026-03-01T10:${now}Z`);
  const plan = planFires({ job, nextRunTime: new Date(`2026-03-01T10:${nextRunTime}Z`), runCount: 0, createTime: new Date("2026-01-01T00:00:00Z") }, at, active, OPTIONS);
  const second = (d: Date) => (d.getTime() - Date.parse("2026-03-01T10:00:00Z")) / 1000;
  return scheduleEventsOf(job, plan, at).map((e) => [R[e.reason], e.count, second(e.firstScheduledTime), second(e.lastScheduledTime)]);
}

describe("scheduleEventsOf: which decision yields which event", () => {
  const busy = { active: 1, held: 0 };
  const cases: { name: string; job: Job; next: string; now: string; active?: ActiveRuns; events: unknown[] }[] = [
    { name: "on time: nothing", job: perSecond(), next: "00:00", now: "00:00.100", events: [] },
    { name: "late within the threshold, several due (ALLOW): nothing", job: perSecond(), next: "00:00", now: "00:03.100", events: [] },
    { name: "overlap SKIP with a run active: the due time skipped", job: perSecond({ overlapPolicy: OverlapPolicy.SKIP }), next: "00:00", now: "00:00.100", active: busy, events: [["OVERLAP_SKIPPED", 1, 0, 0]] },
    { name: "overlap SKIP idle: nothing", job: perSecond({ overlapPolicy: OverlapPolicy.SKIP }), next: "00:00", now: "00:00.100", events: [] },
    { name: "overlap SKIP idle, three due: the older two skipped", job: perSecond({ overlapPolicy: OverlapPolicy.SKIP }), next: "00:00", now: "00:02.100", events: [["OVERLAP_SKIPPED", 2, 0, 1]] },
    { name: "BUFFER_ONE with a run active: buffered", job: perSecond({ overlapPolicy: OverlapPolicy.BUFFER_ONE }), next: "00:00", now: "00:00.100", active: busy, events: [["BUFFERED", 1, 0, 0]] },
    { name: "BUFFER_ONE with one already buffered: skipped", job: perSecond({ overlapPolicy: OverlapPolicy.BUFFER_ONE }), next: "00:00", now: "00:00.100", active: { active: 1, held: 1 }, events: [["OVERLAP_SKIPPED", 1, 0, 0]] },
    { name: "max_concurrent_runs reached: skipped", job: perSecond({ maxConcurrentRuns: 1 }), next: "00:00", now: "00:00.100", active: busy, events: [["OVERLAP_SKIPPED", 1, 0, 0]] },
    { name: "misfire SKIP after 60 s down: one event for 61 missed times", job: perSecond({ misfirePolicy: MisfirePolicy.SKIP }), next: "00:00", now: "01:00.500", events: [["MISSED", 61, 0, 60]] },
    { name: "misfire RUN_ONCE after 60 s down: 60 missed, the latest caught up", job: perSecond(), next: "00:00", now: "01:00.500", events: [["MISSED", 60, 0, 59], ["CAUGHT_UP", 1, 60, 60]] },
    {
      name: "misfire RUN_ALL, window 10 s, after 60 s down: the times before the window missed, those in it caught up",
      job: perSecond({ misfirePolicy: MisfirePolicy.RUN_ALL, misfireWindow: msToDuration(10_000) }),
      next: "00:00",
      now: "01:00.500",
      events: [["MISSED", 51, 0, 50], ["CAUGHT_UP", 10, 51, 60]],
    },
    { name: "misfire RUN_ALL within its window: every time caught up", job: perSecond({ misfirePolicy: MisfirePolicy.RUN_ALL }), next: "00:00", now: "00:09.500", events: [["CAUGHT_UP", 10, 0, 9]] },
    {
      name: "misfire RUN_ONCE with overlap SKIP and a run active: missed, and the catch-up skipped",
      job: perSecond({ overlapPolicy: OverlapPolicy.SKIP }),
      next: "00:00",
      now: "00:09.500",
      active: busy,
      events: [["MISSED", 9, 0, 8], ["OVERLAP_SKIPPED", 1, 9, 9]],
    },
    { name: "max_lag 1 s, fired 3 s late (within the threshold): late", job: perSecond({ maxLag: msToDuration(1000) }), next: "00:00", now: "00:03.100", events: [["LATE", 3, 0, 2]] },
    { name: "max_lag 1 s, on time: nothing", job: perSecond({ maxLag: msToDuration(1000) }), next: "00:00", now: "00:00.900", events: [] },
    { name: "max_lag 1 s, a catch-up run is caught up, not late", job: perSecond({ maxLag: msToDuration(1000) }), next: "00:00", now: "01:00.500", events: [["MISSED", 60, 0, 59], ["CAUGHT_UP", 1, 60, 60]] },
    { name: "one-off (at) claimed 60 s late: it runs, and nothing is recorded", job: oneOff(), next: "00:00", now: "01:00.500", events: [] },
    { name: "one-off (immediate) claimed 60 s late: nothing recorded", job: perSecond({ schedule: toSchedule("immediate") }), next: "00:00", now: "01:00.500", events: [] },
    { name: "one-off claimed 60 s late under RUN_ALL: nothing recorded", job: oneOff({ misfirePolicy: MisfirePolicy.RUN_ALL }), next: "00:00", now: "00:09.500", events: [] },
    { name: "one-off claimed 60 s late under SKIP: missed, as before", job: oneOff({ misfirePolicy: MisfirePolicy.SKIP }), next: "00:00", now: "01:00.500", events: [["MISSED", 1, 0, 0]] },
    { name: "one-off with max_lag 1 s claimed 60 s late: late", job: oneOff({ maxLag: msToDuration(1000) }), next: "00:00", now: "01:00.500", events: [["LATE", 1, 0, 0]] },
  ];
  for (const c of cases) {
    it(c.name, () => expect(eventsOf(c.job, c.next, c.now, c.active)).toEqual(c.events));
  }

  it("a day's outage of a per-second SKIP job is one event, counted up to the cap, with its true last time", () => {
    const job = perSecond({ misfirePolicy: MisfirePolicy.SKIP });
    const now = new Date("2026-03-02T10:00:00.500Z");
    const plan = planFires({ job, nextRunTime: new Date("2026-03-01T10:00:00Z"), runCount: 0, createTime: new Date("2026-01-01T00:00:00Z") }, now, { active: 0, held: 0 }, OPTIONS);
    const events = scheduleEventsOf(job, plan, now);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ reason: R.MISSED, count: MAX_COUNTED_FIRES, lastScheduledTime: new Date("2026-03-02T10:00:00Z") });
  });

  describe("a daily 02:30 New York job on the spring-forward day (2026-03-08: 02:00 EST jumps to 03:00 EDT)", () => {
    const daily = (dstGap: "skip" | "shift") =>
      perSecond({ schedule: toSchedule({ cron: "0 30 2 * * *", timeZone: "America/New_York", dstGap }) });
    const fireAt = (job: Job, nextRunTime: string) => {
      const now = new Date(Date.parse(nextRunTime) + 10);
      const plan = planFires({ job, nextRunTime: new Date(nextRunTime), runCount: 0, createTime: new Date("2026-01-01T00:00:00Z") }, now, { active: 0, held: 0 }, OPTIONS);
      return { plan, events: scheduleEventsOf(job, plan, now) };
    };

    it("SKIP: the fire before the gap steps over 02:30 and says so, once, with that instant", () => {
      const { plan, events } = fireAt(daily("skip"), "2026-03-07T07:30:00Z"); // 02:30 EST on the 7th
      expect(plan.next?.toISOString()).toBe("2026-03-09T06:30:00.000Z");
      // 02:30 read with the old offset (EST) is 07:30Z, inside the gap.
      expect(events.map((e) => [R[e.reason], e.count, e.firstScheduledTime.toISOString()])).toEqual([["DST_SKIPPED", 1, "2026-03-08T07:30:00.000Z"]]);
      // The next pass, after the gap, reports nothing more.
      expect(fireAt(daily("skip"), "2026-03-09T06:30:00Z").events).toEqual([]);
    });

    it("SHIFT: 02:30 fires at 03:30 EDT instead, and nothing is skipped", () => {
      const { plan, events } = fireAt(daily("shift"), "2026-03-07T07:30:00Z");
      expect(plan.next?.toISOString()).toBe("2026-03-08T07:30:00.000Z");
      expect(events).toEqual([]);
    });
  });

  it("names each reason for the metric label", () => {
    expect([R.OVERLAP_SKIPPED, R.BUFFERED, R.MISSED, R.CAUGHT_UP, R.LATE, R.DST_SKIPPED, R.PAUSED].map(scheduleEventReasonName)).toEqual([
      "overlap_skipped",
      "buffered",
      "missed",
      "caught_up",
      "late",
      "dst_skipped",
      "paused",
    ]);
  });
});

describe("missedWhilePaused: the times a resume records as not fired because paused", () => {
  const at = (s: string) => new Date(`2026-03-01T10:${s}Z`);
  const context = { createTime: new Date("2026-01-01T00:00:00Z"), runCount: 0 };
  const cases: { name: string; job: Job; kept: string | null; resumed?: string; now: string; span?: [number, string, string] }[] = [
    { name: "SKIP, paused 00:00-00:09.5: all ten", job: perSecond({ misfirePolicy: MisfirePolicy.SKIP }), kept: "00:00", now: "00:09.500", span: [10, "00:00", "00:09"] },
    { name: "RUN_ONCE resumes with 00:09: the nine before it", job: perSecond(), kept: "00:00", resumed: "00:09", now: "00:09.500", span: [9, "00:00", "00:08"] },
    { name: "RUN_ALL resumes with the oldest: none", job: perSecond({ misfirePolicy: MisfirePolicy.RUN_ALL }), kept: "00:00", resumed: "00:00", now: "00:09.500" },
    { name: "resumed before its kept time came: none", job: perSecond(), kept: "00:10", resumed: "00:10", now: "00:09.500" },
    { name: "nothing kept: none", job: perSecond(), kept: null, now: "00:09.500" },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const span = missedWhilePaused(c.job, c.kept ? at(c.kept) : null, c.resumed ? at(c.resumed) : undefined, at(c.now), context);
      expect(span && [span.count, span.first.toISOString(), span.last.toISOString()]).toEqual(
        c.span && [c.span[0], at(c.span[1]).toISOString(), at(c.span[2]).toISOString()],
      );
    });
  }
});
