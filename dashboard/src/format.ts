import type { Duration, Timestamp } from "@bufbuild/protobuf/wkt";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { JobState, MisfirePolicy, OverlapPolicy } from "@chime/sdk/gen/job_pb";
import { RunState, RunTrigger } from "@chime/sdk/gen/run_pb";
import { DstGapPolicy, DstRepeatPolicy, type Cron, type Schedule } from "@chime/sdk/gen/schedule_pb";
import { cronInWords } from "./cron-words";
import { parseDuration } from "@chime/sdk/web";

/** Words and numbers as a person reads them. Times are shown in the browser's time zone. */

export function toDate(ts: Timestamp | undefined): Date | undefined {
  return ts ? timestampDate(ts) : undefined;
}

export function durationMs(d: Duration | undefined): number | undefined {
  return d ? Number(d.seconds) * 1000 + Math.round(d.nanos / 1e6) : undefined;
}

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

/** 2026-03-01 14:05:09 (local time). */
export function formatTime(date: Date | undefined, withMs = false): string {
  if (!date) return "—";
  const base = `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
  return withMs ? `${base}.${pad(date.getMilliseconds(), 3)}` : base;
}

/** "in 4 s", "3 min ago". */
export function relativeTime(date: Date | undefined, now = Date.now()): string {
  if (!date) return "";
  const diff = date.getTime() - now;
  const text = formatMs(Math.abs(diff), true);
  if (Math.abs(diff) < 1000) return "now";
  return diff > 0 ? `in ${text}` : `${text} ago`;
}

/** 850 ms, 1.2 s, 3 min 4 s, 2 h 5 min, 3 d 4 h. */
export function formatMs(ms: number | undefined, coarse = false): string {
  if (ms === undefined || !Number.isFinite(ms)) return "—";
  const sign = ms < 0 ? "-" : "";
  ms = Math.abs(ms);
  if (ms < 1000) return `${sign}${coarse ? Math.round(ms) : Math.round(ms * 10) / 10} ms`;
  if (ms < 60_000) return `${sign}${coarse ? Math.round(ms / 1000) : (ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const s = Math.floor(ms / 1000);
  if (s < 3600) return `${sign}${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ""}`;
  if (s < 86_400) return `${sign}${Math.floor(s / 3600)} h${Math.floor((s % 3600) / 60) ? ` ${Math.floor((s % 3600) / 60)} min` : ""}`;
  return `${sign}${Math.floor(s / 86_400)} d${Math.floor((s % 86_400) / 3600) ? ` ${Math.floor((s % 86_400) / 3600)} h` : ""}`;
}

const UNITS: Array<[number, string]> = [
  [86_400_000, "day"],
  [3_600_000, "hour"],
  [60_000, "minute"],
  [1000, "second"],
  [1, "millisecond"],
];

/** "5 seconds", "1 minute 30 seconds", "2 hours". */
export function durationInWords(ms: number): string {
  const parts: string[] = [];
  let rest = Math.round(ms);
  for (const [size, name] of UNITS) {
    const n = Math.floor(rest / size);
    if (n > 0) {
      parts.push(`${n} ${name}${n === 1 ? "" : "s"}`);
      rest -= n * size;
    }
  }
  return parts.join(" ") || "0 seconds";
}

/** "5s", "1m30s": the form's duration syntax (see parseDurationText). */
export function durationText(ms: number | undefined): string {
  if (ms === undefined) return "";
  const parts: string[] = [];
  let rest = Math.round(ms);
  for (const [size, unit] of [[86_400_000, "d"], [3_600_000, "h"], [60_000, "m"], [1000, "s"], [1, "ms"]] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) {
      parts.push(`${n}${unit}`);
      rest -= n * size;
    }
  }
  return parts.join("") || "0s";
}

/**
 * Milliseconds of "500ms", "5s", "1m30s", "2h", "1d" (the SDK's duration syntax) or of a plain
 * number of seconds; undefined if not one.
 */
export function parseDurationText(text: string): number | undefined {
  const t = text.trim().replace(/\s+/g, "");
  if (!t) return undefined;
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t) * 1000;
  try {
    return parseDuration(t);
  } catch {
    return undefined;
  }
}

/** The cron expression in words, next to the expression itself: "every second (cron * * * * * *, UTC)". */
function cronScheduleInWords(expression: string, timeZone: string): string {
  const words = cronInWords(expression);
  return words ? `${words} (cron ${expression}, ${timeZone})` : `cron ${expression} (${timeZone})`;
}

/** The DST policies that differ from the default, in words: ", skipped in a DST gap, twice when the hour repeats". */
function dstInWords(cron: Cron): string {
  return (cron.dstGap === DstGapPolicy.SKIP ? ", skipped in a DST gap" : "") + (cron.dstRepeat === DstRepeatPolicy.BOTH ? ", twice when the hour repeats" : "");
}

/** The schedule in words: "every 5 seconds", "every second (cron * * * * * *, UTC)", "at 2026-…". */
export function scheduleInWords(schedule: Schedule | undefined): string {
  if (!schedule) return "no schedule";
  let words: string;
  switch (schedule.kind.case) {
    case "immediate":
      words = "once, immediately";
      break;
    case "at":
      words = `at ${formatTime(toDate(schedule.kind.value.time))}`;
      break;
    case "cron":
      words = cronScheduleInWords(schedule.kind.value.expression, schedule.kind.value.timeZone || "UTC") + dstInWords(schedule.kind.value);
      break;
    case "interval": {
      const ms = durationMs(schedule.kind.value.every) ?? 0;
      words = `every ${durationInWords(ms)}`;
      break;
    }
    default:
      words = "no schedule";
  }
  const bounds: string[] = [];
  if (schedule.startTime) bounds.push(`from ${formatTime(toDate(schedule.startTime))}`);
  if (schedule.endTime) bounds.push(`until ${formatTime(toDate(schedule.endTime))}`);
  if (schedule.maxRuns > 0n) bounds.push(`at most ${schedule.maxRuns} run${schedule.maxRuns === 1n ? "" : "s"}`);
  return bounds.length ? `${words}, ${bounds.join(", ")}` : words;
}

export const JOB_STATE_NAMES: Record<number, string> = {
  [JobState.UNSPECIFIED]: "unknown",
  [JobState.ACTIVE]: "active",
  [JobState.PAUSED]: "paused",
  [JobState.COMPLETED]: "completed",
};

export const RUN_STATE_NAMES: Record<number, string> = {
  [RunState.UNSPECIFIED]: "unknown",
  [RunState.QUEUED]: "queued",
  [RunState.RUNNING]: "running",
  [RunState.RETRY_WAIT]: "retry wait",
  [RunState.SUCCEEDED]: "succeeded",
  [RunState.FAILED]: "failed",
  [RunState.CANCELLED]: "cancelled",
  [RunState.TIMED_OUT]: "timed out",
};

export const TERMINAL_RUN_STATES = new Set([RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED, RunState.TIMED_OUT]);

export const TRIGGER_NAMES: Record<number, string> = {
  [RunTrigger.UNSPECIFIED]: "—",
  [RunTrigger.SCHEDULE]: "schedule",
  [RunTrigger.MANUAL]: "manual",
};

export const OVERLAP_NAMES: Record<number, string> = {
  [OverlapPolicy.UNSPECIFIED]: "allow (default)",
  [OverlapPolicy.ALLOW]: "allow",
  [OverlapPolicy.SKIP]: "skip",
  [OverlapPolicy.BUFFER_ONE]: "buffer one",
  [OverlapPolicy.CANCEL_PREVIOUS]: "cancel previous",
};

export const MISFIRE_NAMES: Record<number, string> = {
  [MisfirePolicy.UNSPECIFIED]: "run once (default)",
  [MisfirePolicy.SKIP]: "skip",
  [MisfirePolicy.RUN_ONCE]: "run once",
  [MisfirePolicy.RUN_ALL]: "run all within the window",
};
