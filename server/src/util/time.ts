import type { Duration, Timestamp } from "@bufbuild/protobuf/wkt";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { create } from "@bufbuild/protobuf";
import { DurationSchema } from "@bufbuild/protobuf/wkt";

export function durationToMs(duration: Duration): number {
  return Number(duration.seconds) * 1000 + Math.trunc(duration.nanos / 1_000_000);
}

export function msToDuration(ms: number): Duration {
  const seconds = Math.floor(ms / 1000);
  return create(DurationSchema, { seconds: BigInt(seconds), nanos: Math.round((ms - seconds * 1000) * 1_000_000) });
}

export function toDate(timestamp: Timestamp): Date {
  return timestampDate(timestamp);
}

export function toTimestamp(date: Date): Timestamp {
  return timestampFromDate(date);
}

export function optionalTimestamp(date: Date | null | undefined): Timestamp | undefined {
  return date ? timestampFromDate(date) : undefined;
}
