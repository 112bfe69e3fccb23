import { create, type JsonObject } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { RunLogLevel, RunLogLineSchema, type RunLogLine } from "./gen/chime/v1/run_pb.js";

/**
 * The bounds of a run's log, shared by the Worker (which stops keeping lines once past them)
 * and the server (which enforces them again, on every attempt of the run together).
 */
export interface RunLogLimits {
  /** Lines per run at most, the drop marker not counted. */
  maxLines: number;
  /** Characters per run at most (messages and their fields as JSON), the drop marker not counted. */
  maxChars: number;
}

export const DEFAULT_RUN_LOG_LIMITS: RunLogLimits = { maxLines: 1000, maxChars: 256 * 1024 };

/** What a line counts against maxChars. */
export function runLogLineChars(line: Pick<RunLogLine, "message" | "fields">): number {
  return line.message.length + (line.fields ? JSON.stringify(line.fields).length : 0);
}

/** The line that stands where `dropped` lines were left out. */
export function droppedMarker(attempt: number, seq: number, dropped: number, time: Date): RunLogLine {
  return create(RunLogLineSchema, {
    attempt,
    seq,
    level: RunLogLevel.DROPPED,
    time: timestampFromDate(time),
    message: `${dropped} log line${dropped === 1 ? "" : "s"} dropped: the run's log is limited`,
    fields: { dropped } satisfies JsonObject,
  });
}

/** How much of the limits a run has used already. */
export interface RunLogUsage {
  lines: number;
  chars: number;
}

/**
 * The lines of one attempt that fit in what the limits leave after `used`, in order: the
 * first that do not fit and every one after it are dropped, and one marker line (numbered
 * after the last kept line) counts them. Lines that are themselves markers (a Worker's)
 * add their count to the new marker instead of being kept.
 */
export function boundRunLogLines(lines: readonly RunLogLine[], limits: RunLogLimits, used: RunLogUsage = { lines: 0, chars: 0 }): RunLogLine[] {
  const kept: RunLogLine[] = [];
  let { lines: count, chars } = used;
  let dropped = 0;
  let full = false;
  for (const line of lines) {
    if (line.level === RunLogLevel.DROPPED) {
      dropped += markerCount(line);
      continue;
    }
    const size = runLogLineChars(line);
    if (full || count + 1 > limits.maxLines || chars + size > limits.maxChars) {
      full = true;
      dropped++;
      continue;
    }
    kept.push(line);
    count++;
    chars += size;
  }
  if (dropped === 0 || lines.length === 0) return kept;
  const last = lines[lines.length - 1];
  const seq = (kept.length > 0 ? kept[kept.length - 1].seq : 0) + 1;
  kept.push(droppedMarker(last.attempt, seq, dropped, last.time ? timestampDate(last.time) : new Date()));
  return kept;
}

function markerCount(line: RunLogLine): number {
  const n = line.fields?.dropped;
  return typeof n === "number" && Number.isInteger(n) && n > 0 ? n : 1;
}
