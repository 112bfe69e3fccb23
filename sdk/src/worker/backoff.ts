import type { RetryPolicy } from "../gen/chime/v1/job_pb.js";

/** The defaults the server fills in for a job's zero values (kept here for assignments that lack them). */
export const RETRY_DEFAULTS = {
  maxAttempts: 3,
  initialBackoffMs: 1_000,
  maxBackoffMs: 300_000,
  multiplier: 2,
  jitter: 0.2,
} as const;

export interface Backoff {
  maxAttempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  multiplier: number;
  jitter: number;
}

function durationMs(duration: { seconds: bigint; nanos: number } | undefined): number | undefined {
  if (!duration) return undefined;
  const ms = Number(duration.seconds) * 1000 + Math.trunc(duration.nanos / 1e6);
  return ms > 0 ? ms : undefined;
}

/** A run's retry policy with every zero value replaced by its default. */
export function backoffOf(policy: RetryPolicy | undefined): Backoff {
  return {
    maxAttempts: policy?.maxAttempts || RETRY_DEFAULTS.maxAttempts,
    initialBackoffMs: durationMs(policy?.initialBackoff) ?? RETRY_DEFAULTS.initialBackoffMs,
    maxBackoffMs: durationMs(policy?.maxBackoff) ?? RETRY_DEFAULTS.maxBackoffMs,
    multiplier: policy?.backoffMultiplier && policy.backoffMultiplier >= 1 ? policy.backoffMultiplier : RETRY_DEFAULTS.multiplier,
    jitter: Math.min(1, Math.max(0, policy?.jitter ?? RETRY_DEFAULTS.jitter)),
  };
}

/**
 * How long to wait after failed attempt `attempt` (1-based) before the next one:
 * initial × multiplier^(attempt-1), capped at max, then spread by ±jitter.
 */
export function retryDelayMs(backoff: Backoff, attempt: number, random: () => number = Math.random): number {
  const base = Math.min(backoff.maxBackoffMs, backoff.initialBackoffMs * Math.pow(backoff.multiplier, Math.max(0, attempt - 1)));
  const spread = base * backoff.jitter * (2 * random() - 1);
  return Math.max(0, Math.round(base + spread));
}
