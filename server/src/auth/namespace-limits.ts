import type pg from "pg";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { NamespaceLimitsSchema, type NamespaceLimits } from "@chime/sdk/gen/admin_service_pb";
import { durationToMs, msToDuration } from "../util/time.js";
import { defaultBurst, type BucketLimit } from "../util/token-bucket.js";

/**
 * Per-namespace limits (table namespace_limits), read through a cache: every call of a
 * namespace key asks for them, and a change made on another replica is seen within `maxAgeMs`.
 */
export function createNamespaceLimits(pool: pg.Pool, maxAgeMs = 1000, now: () => number = () => performance.now()) {
  const cache = new Map<string, { limits: NamespaceLimits; at: number }>();
  const none = (namespace: string) => create(NamespaceLimitsSchema, { namespace });
  return {
    async get(namespace: string): Promise<NamespaceLimits> {
      const cached = cache.get(namespace);
      if (cached && now() - cached.at < maxAgeMs) return cached.limits;
      const { rows } = await pool.query<{ calls_per_second: number; call_burst: number; max_jobs: string; runs_per_second: number; run_burst: number; run_retention_ms: number }>(
        "SELECT calls_per_second, call_burst, max_jobs, runs_per_second, run_burst, run_retention_ms FROM namespace_limits WHERE namespace = $1",
        [namespace],
      );
      const row = rows[0];
      const limits = row
        ? create(NamespaceLimitsSchema, {
            namespace,
            callsPerSecond: row.calls_per_second,
            callBurst: row.call_burst,
            maxJobs: BigInt(row.max_jobs),
            runsPerSecond: row.runs_per_second,
            runBurst: row.run_burst,
            runRetention: row.run_retention_ms === 0 ? undefined : msToDuration(row.run_retention_ms),
          })
        : none(namespace);
      cache.set(namespace, { limits, at: now() });
      return limits;
    },

    /**
     * Refuses jobs a namespace has no room for (RESOURCE_EXHAUSTED). Checked before the
     * insert, not in its transaction: concurrent creates may pass the limit by their number.
     */
    async checkJobQuota(adding: Map<string, number>): Promise<void> {
      for (const [namespace, count] of adding) {
        const { maxJobs } = await this.get(namespace);
        if (maxJobs === 0n) continue;
        const { rows } = await pool.query<{ n: string }>("SELECT count(*) AS n FROM jobs WHERE namespace = $1 AND deleted_time IS NULL", [namespace]);
        if (BigInt(rows[0].n) + BigInt(count) > maxJobs) {
          throw new ConnectError(`namespace ${JSON.stringify(namespace)} holds ${rows[0].n} jobs; its limit is ${maxJobs}`, Code.ResourceExhausted);
        }
      }
    },

    async set(limits: NamespaceLimits): Promise<NamespaceLimits> {
      await pool.query(
        `INSERT INTO namespace_limits (namespace, calls_per_second, call_burst, max_jobs, runs_per_second, run_burst, run_retention_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (namespace) DO UPDATE SET calls_per_second = $2, call_burst = $3, max_jobs = $4, runs_per_second = $5, run_burst = $6, run_retention_ms = $7`,
        [limits.namespace, limits.callsPerSecond, limits.callBurst, String(limits.maxJobs), limits.runsPerSecond, limits.runBurst, limits.runRetention ? durationToMs(limits.runRetention) : 0],
      );
      cache.set(limits.namespace, { limits, at: now() });
      return limits;
    },
  };
}

/**
 * The namespaces whose fires are rate-limited (runs_per_second above 0), for the scheduler's
 * leader: their rate and bucket size (run_burst, else one second's worth).
 */
export async function readFireRates(pool: pg.Pool): Promise<Map<string, BucketLimit>> {
  const { rows } = await pool.query<{ namespace: string; runs_per_second: number; run_burst: number }>(
    "SELECT namespace, runs_per_second, run_burst FROM namespace_limits WHERE runs_per_second > 0",
  );
  return new Map(rows.map((r) => [r.namespace, { perSecond: r.runs_per_second, burst: r.run_burst || defaultBurst(r.runs_per_second) }]));
}

export type NamespaceLimitStore = ReturnType<typeof createNamespaceLimits>;
