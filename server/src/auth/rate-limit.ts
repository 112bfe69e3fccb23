import { performance } from "node:perf_hooks";
import type { DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { RetryInfoSchema } from "@chime/sdk";
import { msToDuration } from "../util/time.js";
import { defaultBurst, msUntil, refill, type Bucket, type BucketLimit } from "../util/token-bucket.js";
import { principalOf } from "./principal.js";
import { beforeEach } from "./before-each.js";

/** Calls per second a namespace may make, and how many at once after a quiet spell (CHIME_RATE_LIMIT). */
export type RateLimit = BucketLimit;

/** Parses "rate[,burst]" ("50", "0.5,10"); the burst defaults to one second's worth (at least 1). */
export function parseRateLimit(raw: string): RateLimit | undefined {
  if (!raw) return undefined;
  const match = /^(\d+(?:\.\d+)?)(?:,(\d+))?$/.exec(raw.trim());
  const perSecond = match ? Number(match[1]) : NaN;
  if (!match || !(perSecond > 0)) throw new Error(`${JSON.stringify(raw)}: expected calls per second above 0, then optionally ",burst" (e.g. 50 or 0.5,10)`);
  const burst = match[2] ? Number(match[2]) : defaultBurst(perSecond);
  if (burst < 1) throw new Error(`${JSON.stringify(raw)}: the burst must be at least 1`);
  return { perSecond, burst };
}

/**
 * One token bucket per namespace, on the monotonic clock. `take` answers how long to wait
 * (ms) when the namespace has no token left under its limit, or undefined when the call may go.
 */
export function createRateLimiter(now: () => number = () => performance.now()) {
  const buckets = new Map<string, Bucket>();
  return {
    take(namespace: string, limit: RateLimit): number | undefined {
      const bucket = refill(buckets.get(namespace), limit, now());
      buckets.set(namespace, bucket);
      if (bucket.tokens >= 1) {
        bucket.tokens -= 1;
        return undefined;
      }
      return msUntil(bucket, limit, 1);
    },
  };
}

export type RateLimiter = ReturnType<typeof createRateLimiter>;

/**
 * Wraps every method so the calls of a namespace's keys are limited per namespace (its own
 * limit, set through AdminService, else CHIME_RATE_LIMIT): over the
 * limit a call is RESOURCE_EXHAUSTED with a google.rpc.RetryInfo saying when to retry, so one
 * tenant's flood cannot take the API from the others. All-namespaces keys (operators,
 * CHIME_API_TOKEN) are not limited.
 */
export function rateLimited<S extends DescService>(
  service: S,
  impl: ServiceImpl<S>,
  limiter: RateLimiter,
  limitOf: (namespace: string) => Promise<RateLimit | undefined>,
): ServiceImpl<S> {
  const check = async (context: HandlerContext) => {
    const namespace = principalOf(context)?.namespace;
    if (namespace === undefined) return;
    const limit = await limitOf(namespace);
    if (!limit) return;
    const waitMs = limiter.take(namespace, limit);
    if (waitMs === undefined) return;
    throw new ConnectError(`namespace ${JSON.stringify(namespace)} is over its rate limit; retry in ${waitMs} ms`, Code.ResourceExhausted, undefined, [
      { desc: RetryInfoSchema, value: { retryDelay: msToDuration(waitMs) } },
    ]);
  };
  return beforeEach(service, impl, check);
}
