/** A token bucket's rate (tokens per second) and size. */
export interface BucketLimit {
  perSecond: number;
  burst: number;
}

/** A bucket's tokens as of `at` (ms, on the caller's clock). */
export interface Bucket {
  tokens: number;
  at: number;
}

/**
 * The bucket refilled up to `now`: a new bucket starts full, and none holds more than its
 * burst. Mutates and returns `bucket` (a new one when undefined), so a map of buckets costs
 * no allocation per call.
 */
export function refill(bucket: Bucket | undefined, limit: BucketLimit, now: number): Bucket {
  if (!bucket) return { tokens: limit.burst, at: now };
  // A clock read before `at` (another caller's later reading) adds nothing rather than taking.
  bucket.tokens = Math.min(limit.burst, bucket.tokens + (Math.max(0, now - bucket.at) / 1000) * limit.perSecond);
  bucket.at = Math.max(bucket.at, now);
  return bucket;
}

/** Milliseconds until a refilled bucket holds `tokens` (0 when it already does), rounded up. */
export function msUntil(bucket: Bucket, limit: BucketLimit, tokens: number): number {
  if (bucket.tokens >= tokens) return 0;
  return Math.ceil(((tokens - bucket.tokens) / limit.perSecond) * 1000);
}

/** A bucket's size when none is set: one second's worth, at least one. */
export function defaultBurst(perSecond: number): number {
  return Math.max(1, Math.ceil(perSecond));
}
