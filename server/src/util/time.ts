import type { Duration, Timestamp } from "@bufbuild/protobuf/wkt";
import { timestampDate } from "@bufbuild/protobuf/wkt";

export function durationToMs(duration: Duration): number {
  return Number(duration.seconds) * 1000 + Math.trunc(duration.nanos / 1_000_000);
}

// Timestamps and durations are built as the plain objects protobuf-es messages are (as
// create() would make them): every job created makes several, and timestampFromDate, through
// create() and protoInt64, cost about 0.7 µs each.

/** Negative durations too: seconds and nanos carry the same sign, as the Duration type requires. */
export function msToDuration(ms: number): Duration {
  const seconds = Math.trunc(ms / 1000);
  return { $typeName: "google.protobuf.Duration", seconds: BigInt(seconds), nanos: Math.round((ms - seconds * 1000) * 1_000_000) };
}

export function toDate(timestamp: Timestamp): Date {
  return timestampDate(timestamp);
}

export function toTimestamp(date: Date): Timestamp {
  const ms = date.getTime();
  const seconds = Math.floor(ms / 1000);
  return { $typeName: "google.protobuf.Timestamp", seconds: BigInt(seconds), nanos: (ms - seconds * 1000) * 1_000_000 };
}

export function optionalTimestamp(date: Date | null | undefined): Timestamp | undefined {
  return date ? toTimestamp(date) : undefined;
}
