import { describe, expect, it } from "vitest";
import { ConnectError, Code } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { BadRequestSchema, JobSchema, ScheduleEventReason, toSchedule, type Job, type PreviewedTime, type ScheduleSpec } from "@chime/sdk";
import { DstAdjustment, DstGapPolicy, DstRepeatPolicy, type Schedule } from "@chime/sdk/gen/schedule_pb";
import { readMetric } from "./helpers/metrics.js";
import { useTestServer } from "./helpers/test-server.js";

const fixture = useTestServer();
const zone = "America/New_York";

/** The field paths of an INVALID_ARGUMENT answer's BadRequest detail. */
async function violatedFields(call: Promise<unknown>): Promise<string[]> {
  try {
    await call;
  } catch (error) {
    const connectError = ConnectError.from(error);
    expect(connectError.code).toBe(Code.InvalidArgument);
    return connectError.findDetails(BadRequestSchema).flatMap((detail) => detail.fieldViolations.map((violation) => violation.field));
  }
  throw new Error("the call succeeded");
}

function cronPolicies(schedule: Schedule | undefined): [DstGapPolicy, DstRepeatPolicy] | undefined {
  return schedule?.kind.case === "cron" ? [schedule.kind.value.dstGap, schedule.kind.value.dstRepeat] : undefined;
}

describe("DST policy of cron schedules through the server", () => {
  it("PreviewSchedule marks each time a DST rule moved, skipped or doubled", async () => {
    const preview = (spec: ScheduleSpec, after: string, count: number) =>
      fixture.chime.jobService.previewSchedule({ schedule: toSchedule(spec), count, after: timestampFromDate(new Date(after)) });
    const iso = (times: PreviewedTime[]) =>
      times.map((t) => [timestampDate(t.time!).toISOString(), t.dstAdjustment]);

    // 2026-03-08: 02:00 EST → 03:00 EDT.
    const shifted = await preview({ cron: "30 2 * * *", timeZone: zone }, "2026-03-06T12:00:00Z", 3);
    expect(iso(shifted.times)).toEqual([
      ["2026-03-07T07:30:00.000Z", DstAdjustment.UNSPECIFIED],
      ["2026-03-08T07:30:00.000Z", DstAdjustment.SHIFTED],
      ["2026-03-09T06:30:00.000Z", DstAdjustment.UNSPECIFIED],
    ]);
    const skipped = await preview({ cron: "30 2 * * *", timeZone: zone, dstGap: "skip" }, "2026-03-06T12:00:00Z", 3);
    expect(iso(skipped.times).map(([, adjustment]) => adjustment)).toEqual([
      DstAdjustment.UNSPECIFIED,
      DstAdjustment.SKIPPED,
      DstAdjustment.UNSPECIFIED,
      DstAdjustment.UNSPECIFIED,
    ]);
    // fire_times holds the fires alone: the skipped time is not one of them.
    expect(skipped.fireTimes.map((t) => timestampDate(t).toISOString())).toEqual(["2026-03-07T07:30:00.000Z", "2026-03-09T06:30:00.000Z", "2026-03-10T06:30:00.000Z"]);

    // 2026-11-01: 02:00 EDT → 01:00 EST.
    const doubled = await preview({ cron: "30 1 * * *", timeZone: zone, dstRepeat: "both" }, "2026-10-31T12:00:00Z", 3);
    expect(iso(doubled.times)).toEqual([
      ["2026-11-01T05:30:00.000Z", DstAdjustment.UNSPECIFIED],
      ["2026-11-01T06:30:00.000Z", DstAdjustment.DOUBLED],
      ["2026-11-02T06:30:00.000Z", DstAdjustment.UNSPECIFIED],
    ]);
  });

  it("CreateJob, GetJob, ListJobs and UpdateJob carry the policies; unset reads back as the defaults", async () => {
    const job = await fixture.chime.createJob({
      name: "dst-policies",
      queue: "dst",
      schedule: { cron: "30 2 * * *", timeZone: zone, dstGap: "skip", dstRepeat: "both" },
    });
    expect(cronPolicies(job.schedule)).toEqual([DstGapPolicy.SKIP, DstRepeatPolicy.BOTH]);
    expect(cronPolicies((await fixture.chime.getJob(job.id)).schedule)).toEqual([DstGapPolicy.SKIP, DstRepeatPolicy.BOTH]);
    const listed: Schedule[] = [];
    for await (const found of fixture.chime.listJobs({ namePrefix: "dst-policies" })) if (found.schedule) listed.push(found.schedule);
    expect(listed.map(cronPolicies)).toEqual([[DstGapPolicy.SKIP, DstRepeatPolicy.BOTH]]);

    const updated = await fixture.chime.updateJob(job.id, { schedule: { cron: "30 2 * * *", timeZone: zone } });
    expect(cronPolicies(updated.schedule)).toEqual([DstGapPolicy.SHIFT, DstRepeatPolicy.FIRST]);
    expect(cronPolicies((await fixture.chime.getJob(job.id)).schedule)).toEqual([DstGapPolicy.SHIFT, DstRepeatPolicy.FIRST]);
  });

  it("answers an unknown policy value INVALID_ARGUMENT naming the field, and writes nothing", async () => {
    const schedule = (dstGap: number, dstRepeat: number) => {
      const value = toSchedule({ cron: "30 2 * * *", timeZone: zone });
      if (value.kind.case === "cron") Object.assign(value.kind.value, { dstGap, dstRepeat });
      return value;
    };
    const job = (dstGap: number, dstRepeat: number) => create(JobSchema, { name: "dst-bad", queue: "dst", schedule: schedule(dstGap, dstRepeat) });
    expect(await violatedFields(fixture.chime.jobService.createJob({ job: job(7, 0) }))).toEqual(["job.schedule.cron.dst_gap"]);
    expect(await violatedFields(fixture.chime.jobService.createJob({ job: job(0, 9) }))).toEqual(["job.schedule.cron.dst_repeat"]);
    expect(await violatedFields(fixture.chime.jobService.previewSchedule({ schedule: schedule(3, 3) }))).toEqual([
      "schedule.cron.dst_gap",
      "schedule.cron.dst_repeat",
    ]);
    const written: string[] = [];
    for await (const found of fixture.chime.listJobs({ namePrefix: "dst-bad" })) written.push(found.id);
    expect(written).toEqual([]);
  });
});

describe("a skipped gap time before a job's first fire", () => {
  // 00:00 EST on 2026-03-08, the day New York skips 02:00-02:59: the job's first fire is the
  // next day's 02:30, and today's 02:30 (in the gap, SKIP) is dropped when the job is planned.
  const dstDay = new Date("2026-03-08T05:00:00Z");
  const clocked = useTestServer({ CHIME_ROLES: "api" }, { now: () => dstDay });

  it("is recorded as a DST_SKIPPED schedule event by CreateJob, BatchCreateJobs and UpdateJob, and counted", async () => {
    const skip = { cron: "30 2 * * *", timeZone: zone, dstGap: "skip" } as const;
    const created = await clocked.chime.createJob({ name: "gap-created", queue: "q", schedule: skip });
    expect(timestampDate(created.nextRunTime!).toISOString()).toBe("2026-03-09T06:30:00.000Z");
    const [result] = await clocked.chime.batchCreateJobs([{ name: "gap-batched", queue: "q", schedule: skip }]);
    expect(result.case).toBe("created");
    const batched = result.value as Job;
    const updated = await clocked.chime.createJob({ name: "gap-updated", queue: "q", schedule: { cron: "0 12 * * *", timeZone: zone } });
    await clocked.chime.updateJob(updated.id, { schedule: skip });
    const shifted = await clocked.chime.createJob({ name: "gap-shifted", queue: "q", schedule: { cron: "30 2 * * *", timeZone: zone } });

    const eventsOf = async (jobId: string) =>
      (await clocked.chime.jobService.listScheduleEvents({ jobId })).events.map((e) => [ScheduleEventReason[e.reason], e.count, timestampDate(e.firstScheduledTime!).toISOString()]);
    for (const job of [created, batched, updated]) expect(await eventsOf(job.id)).toEqual([["DST_SKIPPED", 1, "2026-03-08T07:30:00.000Z"]]);
    // SHIFT fires the time (at 03:30 EDT): nothing to record.
    expect(await eventsOf(shifted.id)).toEqual([]);
    expect(await readMetric(clocked.server.httpUrl, "chime_schedule_events_total", { reason: "dst_skipped" })).toBe(3);
  });
});
