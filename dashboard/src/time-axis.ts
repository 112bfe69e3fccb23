/**
 * Tick marks for a chart's time axis, in the browser's time zone: at round local times
 * (a multiple of the step since local midnight, or local midnights), labelled "14:30",
 * or "Dec 3" where a tick falls on a midnight of a range of a day or more.
 */

export interface Tick {
  at: number;
  /** 0 at the range's start, 1 at its end. */
  x: number;
  label: string;
}

const MIN = 60_000;
const DAY = 1440 * MIN;
/** Steps between ticks, in minutes: the first that makes at most maxTicks is taken. */
const STEPS_MIN = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080];
/** Labels a chart's width holds, a narrow window's too ("Dec 10" is about 40 px). */
const MAX_TICKS = 7;
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

const pad = (n: number) => String(n).padStart(2, "0");

/** The step (minutes) for a range: the first whose ticks number at most maxTicks. */
export function tickStepMinutes(spanMs: number, maxTicks = MAX_TICKS): number {
  return STEPS_MIN.find((m) => spanMs / (m * MIN) <= maxTicks) ?? STEPS_MIN[STEPS_MIN.length - 1];
}

/** The first local time at or after `ms` whose wall clock is a multiple of the step (minutes) since midnight. */
function firstTick(ms: number, stepMin: number): Date {
  const d = new Date(ms);
  if (stepMin >= 1440) {
    const midnight = new Date(d.getFullYear(), d.getMonth(), d.getDate());
    return midnight.getTime() < ms ? new Date(d.getFullYear(), d.getMonth(), d.getDate() + 1) : midnight;
  }
  const minutes = d.getHours() * 60 + d.getMinutes() + (d.getSeconds() || d.getMilliseconds() ? 1 : 0);
  return new Date(d.getFullYear(), d.getMonth(), d.getDate(), 0, Math.ceil(minutes / stepMin) * stepMin);
}

/** The next tick after `d` on the local wall clock (so a DST change keeps ticks on round hours). */
function nextTick(d: Date, stepMin: number): Date {
  if (stepMin >= 1440) return new Date(d.getFullYear(), d.getMonth(), d.getDate() + stepMin / 1440);
  const minutes = d.getHours() * 60 + d.getMinutes() + stepMin;
  // Past midnight the step starts again from it, so every day's ticks are the same round times.
  return minutes >= 1440 ? new Date(d.getFullYear(), d.getMonth(), d.getDate() + 1) : new Date(d.getFullYear(), d.getMonth(), d.getDate(), 0, minutes);
}

export function timeTicks(startMs: number, endMs: number, maxTicks = MAX_TICKS): Tick[] {
  const span = endMs - startMs;
  if (!(span > 0)) return [];
  const step = tickStepMinutes(span, maxTicks);
  const ticks: Tick[] = [];
  for (let d = firstTick(startMs, step); d.getTime() <= endMs && ticks.length <= maxTicks + 1; d = nextTick(d, step)) {
    const midnight = d.getHours() === 0 && d.getMinutes() === 0;
    const label = midnight && (span >= DAY || step >= 1440) ? `${MONTHS[d.getMonth()]} ${d.getDate()}` : `${pad(d.getHours())}:${pad(d.getMinutes())}`;
    ticks.push({ at: d.getTime(), x: (d.getTime() - startMs) / span, label });
  }
  return ticks;
}
