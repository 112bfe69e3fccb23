import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { ScheduleEventReason, ScheduleEventReasonSchema, ScheduleEventSchema, type Job, type ScheduleEvent } from "@chime/sdk";
import type pg from "pg";
import type { Metrics } from "../metrics.js";
import { durationToMs } from "../util/time.js";
import { encodeResumeToken } from "../watch/resume-token.js";
import type { FirePlan, FireSpan } from "./fire-plan.js";

/** One fire decision that did not produce an on-time run (a schedule_events row). */
export interface ScheduleEventRecord {
  jobId: string;
  reason: ScheduleEventReason;
  count: number;
  firstScheduledTime: Date;
  lastScheduledTime: Date;
}

/**
 * The schedule events of one job's fire plan made at `now`: every time the plan did not fire
 * on time, coalesced by reason (one event per reason and pass, with the count and the first
 * and last time). A plan whose times all fire on time yields none, so an on-time pass writes
 * nothing. A one-off job (immediate, at) fired after a misfire is not CAUGHT_UP: its only time
 * runs, as it asked, so nothing was decided that its run does not show (scheduled time against
 * start); a burst that outruns the scheduler would otherwise write a row per job just when the
 * leader is busiest. With a max_lag it is LATE instead, as any run past it is. Pure.
 */
export function scheduleEventsOf(job: Job, plan: FirePlan, now: Date): ScheduleEventRecord[] {
  const catchUpCount = isOneOff(job) ? 0 : plan.catchUps;
  // The common case, checked without allocating: every candidate fires on time.
  if (!plan.missed && !plan.dstSkipped && catchUpCount === 0 && plan.fires.length === plan.candidates.length && !job.maxLag && !plan.fires.some((f) => f.held)) {
    return NO_EVENTS;
  }
  const events: ScheduleEventRecord[] = [];
  const add = (reason: ScheduleEventReason, span: FireSpan | undefined) => {
    if (span) events.push({ jobId: job.id, reason, count: span.count, firstScheduledTime: span.first, lastScheduledTime: span.last });
  };
  add(ScheduleEventReason.MISSED, plan.missed);
  const fired = new Set(plan.fires.map((f) => f.scheduledTime.getTime()));
  const catchUps = plan.candidates.slice(0, catchUpCount);
  add(ScheduleEventReason.CAUGHT_UP, spanOf(catchUps.filter((t) => fired.has(t.getTime()))));
  add(ScheduleEventReason.OVERLAP_SKIPPED, spanOf(plan.candidates.filter((t) => !fired.has(t.getTime()))));
  add(ScheduleEventReason.BUFFERED, spanOf(plan.fires.filter((f) => f.held).map((f) => f.scheduledTime)));
  add(ScheduleEventReason.DST_SKIPPED, plan.dstSkipped);
  if (job.maxLag) {
    // A catch-up run is late by design (it has its own reason); a buffered one waits on purpose.
    const lateBefore = now.getTime() - durationToMs(job.maxLag);
    const caughtUp = new Set(catchUps.map((t) => t.getTime()));
    const late = plan.fires.filter((f) => !f.held && f.scheduledTime.getTime() < lateBefore && !caughtUp.has(f.scheduledTime.getTime()));
    add(ScheduleEventReason.LATE, spanOf(late.map((f) => f.scheduledTime)));
  }
  return events;
}

/** Counts recorded events in chime_schedule_events_total, by reason. */
export function countScheduleEvents(metrics: Metrics, events: ScheduleEventRecord[]): void {
  for (const event of events) metrics.scheduleEvents.inc({ reason: scheduleEventReasonName(event.reason) });
}

const NO_EVENTS: ScheduleEventRecord[] = [];

/** A schedule with one time only: it fires once and the job completes. */
function isOneOff(job: Job): boolean {
  const kind = job.schedule?.kind.case;
  return kind === "immediate" || kind === "at";
}

/** A reason as a metric label: "overlap_skipped", "missed", ... */
export function scheduleEventReasonName(reason: ScheduleEventReason): string {
  return ScheduleEventReasonSchema.value[reason].name.slice("SCHEDULE_EVENT_REASON_".length).toLowerCase();
}

/** The span of some times, oldest first; undefined when there are none. */
function spanOf(times: Date[]): FireSpan | undefined {
  if (times.length === 0) return undefined;
  return { first: times[0], last: times[times.length - 1], count: times.length };
}

/**
 * Writes schedule events in the caller's transaction (the one that made the decisions), one
 * statement for all of them; nothing when there are none. `time` is the decision's time.
 */
export async function insertScheduleEvents(client: pg.PoolClient, events: ScheduleEventRecord[], time: Date): Promise<void> {
  if (events.length === 0) return;
  await client.query(
    `INSERT INTO schedule_events (job_id, reason, count, first_scheduled_time, last_scheduled_time, time)
     SELECT job_id, reason, count, first_time, last_time, $6
     FROM unnest($1::uuid[], $2::smallint[], $3::int[], $4::timestamptz[], $5::timestamptz[])
       AS e(job_id, reason, count, first_time, last_time)`,
    [
      events.map((e) => e.jobId),
      events.map((e) => e.reason),
      events.map((e) => e.count),
      events.map((e) => e.firstScheduledTime),
      events.map((e) => e.lastScheduledTime),
      time,
    ],
  );
}

/** A stored schedule event as the API sends it (WatchJob, ListScheduleEvents). */
export function scheduleEventMessage(event: ScheduleEventRecord, time: Date, cursor: number): ScheduleEvent {
  return create(ScheduleEventSchema, {
    jobId: event.jobId,
    reason: event.reason,
    count: event.count,
    firstScheduledTime: timestampFromDate(event.firstScheduledTime),
    lastScheduledTime: timestampFromDate(event.lastScheduledTime),
    time: timestampFromDate(time),
    resumeToken: encodeResumeToken(cursor),
  });
}

/** One job's schedule events after `afterCursor`, oldest first, at most `limit`. */
export async function readScheduleEvents(pool: pg.Pool, jobId: string, afterCursor: number, limit: number): Promise<{ cursor: number; message: ScheduleEvent }[]> {
  const { rows } = await pool.query<{ cursor: string; reason: number; count: number; first_scheduled_time: Date; last_scheduled_time: Date; time: Date }>(
    `SELECT cursor, reason, count, first_scheduled_time, last_scheduled_time, time FROM schedule_events
     WHERE job_id = $1 AND cursor > $2 ORDER BY cursor LIMIT $3`,
    [jobId, afterCursor, limit],
  );
  return rows.map((row) => {
    const cursor = Number(row.cursor);
    const record = { jobId, reason: row.reason, count: row.count, firstScheduledTime: row.first_scheduled_time, lastScheduledTime: row.last_scheduled_time };
    return { cursor, message: scheduleEventMessage(record, row.time, cursor) };
  });
}
