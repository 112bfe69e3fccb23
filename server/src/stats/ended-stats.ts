import { create } from "@bufbuild/protobuf";
import type { Duration } from "@bufbuild/protobuf/wkt";
import { EndedRunStatsSchema } from "@chime/sdk/gen/stats_service_pb";
import { invalidArgument } from "../api/errors.js";
import { durationToMs, msToDuration } from "../util/time.js";
import { quantileMs } from "./histogram.js";
import { ROLLUP_RETENTION_DAYS } from "./queue-stats-rollup.js";

// What the StatsService methods share: the window they take and the EndedRunStats they answer.

const DEFAULT_WINDOW_MS = 3_600_000;
/** As far back as the queue rollups are kept. */
export const MAX_WINDOW_MS = ROLLUP_RETENTION_DAYS * 86_400_000;
export const QUANTILES = [0.5, 0.9, 0.99] as const;

/** A request's window in ms: the default when unset, INVALID_ARGUMENT outside minMs..31 days. */
export function windowMs(window: Duration | undefined, minMs: number): number {
  if (!window) return DEFAULT_WINDOW_MS;
  const ms = durationToMs(window);
  if (!(ms >= minMs && ms <= MAX_WINDOW_MS)) throw invalidArgument(`window: expected ${minMs / 1000}s to 31 days`);
  return ms;
}

export interface Counts {
  succeeded: number;
  failed: number;
  cancelled: number;
  timed_out: number;
}

/** EndedRunStats from counts and the three quantiles (ms, undefined when nothing started) of durations and lags. */
export function endedStats(counts: Counts, durations: Array<number | undefined>, lags: Array<number | undefined>) {
  const decided = counts.succeeded + counts.failed + counts.timed_out;
  const duration = (ms: number | undefined) => (ms === undefined ? undefined : msToDuration(Math.round(ms)));
  return create(EndedRunStatsSchema, {
    succeeded: BigInt(counts.succeeded),
    failed: BigInt(counts.failed),
    cancelled: BigInt(counts.cancelled),
    timedOut: BigInt(counts.timed_out),
    successRate: decided === 0 ? 0 : counts.succeeded / decided,
    durationP50: duration(durations[0]),
    durationP90: duration(durations[1]),
    durationP99: duration(durations[2]),
    startLagP50: duration(lags[0]),
    startLagP90: duration(lags[1]),
    startLagP99: duration(lags[2]),
  });
}

/** EndedRunStats from counts and histograms of durations and lags (percentiles as bucket bounds). */
export function endedStatsOfHistograms(counts: Counts, durations: readonly number[], lags: readonly number[]) {
  return endedStats(counts, QUANTILES.map((q) => quantileMs(durations, q)), QUANTILES.map((q) => quantileMs(lags, q)));
}
