/**
 * Fixed histogram buckets for durations (milliseconds), shared by the per-minute queue
 * rollups (queue_stats_minutes' integer arrays) and their readers: bucket i counts values
 * <= BUCKET_BOUNDS_MS[i] (and above the previous bound); the last bucket has no bound.
 */
export const BUCKET_BOUNDS_MS = [
  1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 30_000, 60_000, 300_000, 900_000, 3_600_000,
] as const;

export const BUCKET_COUNT = BUCKET_BOUNDS_MS.length + 1;

export function emptyBuckets(): number[] {
  return new Array<number>(BUCKET_COUNT).fill(0);
}

/** The bucket a value falls in. */
export function bucketOf(ms: number): number {
  for (let i = 0; i < BUCKET_BOUNDS_MS.length; i++) if (ms <= BUCKET_BOUNDS_MS[i]) return i;
  return BUCKET_BOUNDS_MS.length;
}

/**
 * The q-quantile (0..1) of the counted values, as the upper bound of the bucket it falls in
 * (an over-estimate by at most one bucket); undefined when nothing was counted. Values above
 * the last bound are reported as that bound.
 */
export function quantileMs(buckets: readonly number[], q: number): number | undefined {
  const total = buckets.reduce((a, b) => a + b, 0);
  if (total === 0) return undefined;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (let i = 0; i < buckets.length; i++) {
    seen += buckets[i];
    if (seen >= rank) return BUCKET_BOUNDS_MS[Math.min(i, BUCKET_BOUNDS_MS.length - 1)];
  }
  return BUCKET_BOUNDS_MS[BUCKET_BOUNDS_MS.length - 1];
}

/** Element-wise sum (arrays of BUCKET_COUNT). */
export function addBuckets(into: number[], from: readonly number[]): number[] {
  for (let i = 0; i < into.length; i++) into[i] += from[i] ?? 0;
  return into;
}
