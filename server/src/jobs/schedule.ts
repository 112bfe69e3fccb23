import { CronExpressionParser, type CronExpression } from "cron-parser";
import type { Schedule } from "@chime/sdk/gen/schedule_pb";
import { durationToMs, toDate } from "../util/time.js";

/** What a fire-time computation needs to know of the job besides its schedule. */
export interface ScheduleContext {
  /** When the job was created: the first fire of `immediate`, and the default interval anchor. */
  createTime: Date;
  /** Runs the schedule has produced so far (counts against max_runs and one-shots). */
  runCount: number;
}

/** Parses a 5- or 6-field cron expression; throws an Error saying what is wrong. */
export function parseCron(expression: string, timeZone: string, currentDate: Date = new Date()) {
  const fields = expression.trim().split(/\s+/).filter(Boolean);
  if (fields.length !== 5 && fields.length !== 6) {
    throw new Error(`expected 5 fields, or 6 with seconds first; got ${fields.length}`);
  }
  // cron-parser reads H as a value hashed from a seed, random when none is given: the
  // job's fire times would change at every computation. Not supported.
  if (fields.some((field) => /(?<![A-Z])H(?![A-Z])/i.test(field))) {
    throw new Error("H (hashed values) is not supported; use explicit values");
  }
  return CronExpressionParser.parse(fields.join(" "), { currentDate, tz: timeZone || "UTC" });
}

/** Parsed expressions by time zone and text: parsing costs three times a reset and next(). */
const parsedCrons = new Map<string, CronExpression>();
const MAX_PARSED_CRONS = 10_000;

/**
 * A parsed (valid) cron expression positioned at `currentDate`. The instance is shared:
 * use it at once (next() / prev()), before anything else can reposition it.
 */
function cronAt(expression: string, timeZone: string, currentDate: Date): CronExpression {
  const key = `${timeZone}\u0000${expression}`;
  let cron = parsedCrons.get(key);
  if (!cron) {
    cron = parseCron(expression, timeZone, currentDate);
    if (parsedCrons.size >= MAX_PARSED_CRONS) parsedCrons.delete(parsedCrons.keys().next().value!);
    parsedCrons.set(key, cron);
  } else cron.reset(currentDate);
  return cron;
}

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
 *
 * Cron times follow cron-parser's rules in the job's zone: a local time skipped by a
 * spring-forward DST change fires at the first instant after the gap (once); a local
 * time repeated by a fall-back change fires at its first occurrence only when the
 * hour is fixed (30 1 * * *), and in both occurrences when the hour field matches
 * every hour (a job every 30 minutes keeps firing each real half hour). See schedule.test.ts.
 */
export function nextFireTime(schedule: Schedule, after: Date, context: ScheduleContext): Date | undefined {
  if (schedule.maxRuns > 0n && BigInt(context.runCount) >= schedule.maxRuns) return undefined;
  const start = schedule.startTime ? toDate(schedule.startTime) : undefined;
  const end = schedule.endTime ? toDate(schedule.endTime) : undefined;
  // Times before start_time never fire: search from just before it.
  const from = start && start.getTime() - 1 > after.getTime() ? new Date(start.getTime() - 1) : after;
  let next: Date | undefined;
  switch (schedule.kind.case) {
    case "immediate":
      next = context.runCount === 0 ? maxDate(context.createTime, start) : undefined;
      break;
    case "at":
      next = context.runCount === 0 && schedule.kind.value.time ? toDate(schedule.kind.value.time) : undefined;
      break;
    case "cron": {
      const { expression, timeZone } = schedule.kind.value;
      next = cronAt(expression, timeZone, from).next().toDate();
      break;
    }
    case "interval": {
      const every = schedule.kind.value.every ? durationToMs(schedule.kind.value.every) : 0;
      if (every <= 0) return undefined;
      const anchor = schedule.kind.value.anchor ? toDate(schedule.kind.value.anchor).getTime() : context.createTime.getTime();
      const steps = from.getTime() < anchor ? 0 : Math.floor((from.getTime() - anchor) / every) + 1;
      next = new Date(anchor + steps * every);
      break;
    }
    default:
      return undefined;
  }
  if (next && end && next.getTime() > end.getTime()) return undefined;
  return next;
}

/** Up to `count` fire times after `after`, as the schedule would produce them from now on. */
export function previewFireTimes(schedule: Schedule, after: Date, count: number, context: ScheduleContext): Date[] {
  const times: Date[] = [];
  let cursor = after;
  let runCount = context.runCount;
  while (times.length < count) {
    const next = nextFireTime(schedule, cursor, { ...context, runCount });
    if (!next) break;
    times.push(next);
    cursor = next;
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
    case "cron": {
      const { expression, timeZone } = schedule.kind.value;
      candidate = cronAt(expression, timeZone, new Date(atOrBefore.getTime() + 1)).prev().toDate();
      break;
    }
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
