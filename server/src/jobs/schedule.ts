import { DstAdjustment, type Schedule } from "@chime/sdk/gen/schedule_pb";
import { cronStep, type CronStep, type ResolvedTime } from "./cron-times.js";
import { durationToMs, toDate } from "../util/time.js";

/** What a fire-time computation needs to know of the job besides its schedule. */
export interface ScheduleContext {
  /** When the job was created: the first fire of `immediate`, and the default interval anchor. */
  createTime: Date;
  /** Runs the schedule has produced so far (counts against max_runs and one-shots). */
  runCount: number;
}

export { parseCron } from "./cron-times.js";

export function isKnownTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone });
    return true;
  } catch {
    return false;
  }
}

/**
 * The first fire time strictly after `after`, or undefined when the schedule will not
 * fire again (one-shot done, past end_time, or max_runs reached).
 */
export function nextFireTime(schedule: Schedule, after: Date, context: ScheduleContext): Date | undefined {
  return nextFire(schedule, after, context).fire?.time;
}

/**
 * The next fire as nextFireTime finds it, with what a DST rule did to it and the cron times
 * DST_GAP_POLICY_SKIP dropped before it (cron-times.ts decides; see docs/scheduling.md).
 */
export function nextFire(schedule: Schedule, after: Date, context: ScheduleContext): CronStep {
  const none: CronStep = { skipped: [] };
  if (schedule.maxRuns > 0n && BigInt(context.runCount) >= schedule.maxRuns) return none;
  const start = schedule.startTime ? toDate(schedule.startTime) : undefined;
  const end = schedule.endTime ? toDate(schedule.endTime) : undefined;
  // Times before start_time never fire: search from just before it.
  const from = start && start.getTime() - 1 > after.getTime() ? new Date(start.getTime() - 1) : after;
  let step: CronStep;
  switch (schedule.kind.case) {
    case "immediate":
      step = plainStep(context.runCount === 0 ? maxDate(context.createTime, start) : undefined);
      break;
    case "at":
      step = plainStep(context.runCount === 0 && schedule.kind.value.time ? toDate(schedule.kind.value.time) : undefined);
      break;
    case "cron":
      step = cronStep(schedule.kind.value, from, true);
      break;
    case "interval": {
      const every = schedule.kind.value.every ? durationToMs(schedule.kind.value.every) : 0;
      if (every <= 0) return none;
      const anchor = schedule.kind.value.anchor ? toDate(schedule.kind.value.anchor).getTime() : context.createTime.getTime();
      const steps = from.getTime() < anchor ? 0 : Math.floor((from.getTime() - anchor) / every) + 1;
      step = plainStep(new Date(anchor + steps * every));
      break;
    }
    default:
      return none;
  }
  if (!end) return step;
  const inBounds = (time: ResolvedTime) => time.time.getTime() <= end.getTime();
  const fire = step.fire && inBounds(step.fire) ? step.fire : undefined;
  return { fire, skipped: step.skipped.filter(inBounds) };
}

function plainStep(time: Date | undefined): CronStep {
  return { fire: time && { time, adjustment: DstAdjustment.UNSPECIFIED }, skipped: [] };
}

/** Up to `count` fire times after `after`, as the schedule would produce them from now on. */
export function previewFireTimes(schedule: Schedule, after: Date, count: number, context: ScheduleContext): Date[] {
  return previewSchedule(schedule, after, count, context)
    .filter((time) => time.adjustment !== DstAdjustment.SKIPPED)
    .map((time) => time.time);
}

/**
 * Up to `count` fire times after `after`, each with what a DST rule did to it, and between them
 * the cron times DST_GAP_POLICY_SKIP dropped (marked SKIPPED; they do not count).
 */
export function previewSchedule(schedule: Schedule, after: Date, count: number, context: ScheduleContext): ResolvedTime[] {
  const times: ResolvedTime[] = [];
  let cursor = after;
  let runCount = context.runCount;
  while (runCount - context.runCount < count) {
    const { fire, skipped } = nextFire(schedule, cursor, { ...context, runCount });
    times.push(...skipped);
    if (!fire) break;
    times.push(fire);
    cursor = fire.time;
    runCount += 1;
  }
  return times;
}

function maxDate(a: Date, b: Date | undefined): Date {
  return b && b.getTime() > a.getTime() ? b : a;
}

/**
 * The last fire time at or before `atOrBefore` that is not earlier than `notBefore`
 * (both bounds inclusive), or undefined. Used to find the one catch-up run of a job
 * that missed many times, without walking every missed time.
 */
export function lastFireTimeBetween(schedule: Schedule, notBefore: Date, atOrBefore: Date, context: ScheduleContext): Date | undefined {
  if (atOrBefore.getTime() < notBefore.getTime()) return undefined;
  let candidate: Date | undefined;
  switch (schedule.kind.case) {
    case "immediate":
    case "at":
      candidate = nextFireTime(schedule, new Date(notBefore.getTime() - 1), context);
      break;
    case "cron":
      candidate = cronStep(schedule.kind.value, new Date(atOrBefore.getTime() + 1), false).fire?.time;
      break;
    case "interval": {
      const every = schedule.kind.value.every ? durationToMs(schedule.kind.value.every) : 0;
      if (every <= 0) return undefined;
      const anchor = schedule.kind.value.anchor ? toDate(schedule.kind.value.anchor).getTime() : context.createTime.getTime();
      if (atOrBefore.getTime() < anchor) return undefined;
      candidate = new Date(anchor + Math.floor((atOrBefore.getTime() - anchor) / every) * every);
      break;
    }
  }
  if (!candidate || candidate.getTime() < notBefore.getTime() || candidate.getTime() > atOrBefore.getTime()) return undefined;
  const end = schedule.endTime ? toDate(schedule.endTime).getTime() : Infinity;
  return candidate.getTime() <= end ? candidate : undefined;
}
