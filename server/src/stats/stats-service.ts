import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import type { JetStreamClient } from "@nats-io/jetstream";
import type pg from "pg";
import type { NatsLayout } from "@chime/sdk";
import { ActiveRunCountsSchema, type StatsService } from "@chime/sdk/gen/stats_service_pb";
import { invalidArgument, notFound, requireId } from "../api/errors.js";
import { principalOf } from "../auth/principal.js";
import { checkNamespaceFilter, QUEUE_PATTERN } from "../jobs/job-validation.js";
import { readQueueConsumer } from "../nats/queue-consumers.js";
import { toTimestamp } from "../util/time.js";
import { endedStats, QUANTILES, windowMs, type Counts } from "./ended-stats.js";
import { addBuckets, emptyBuckets, quantileMs } from "./histogram.js";
import { getRunSeries } from "./run-series.js";

function activeCounts(rows: Array<{ state: number; count: string }>) {
  const of = (state: number) => BigInt(rows.find((r) => r.state === state)?.count ?? 0);
  return create(ActiveRunCountsSchema, { queued: of(1), running: of(2), retryWait: of(3) });
}

/**
 * Stats the server computes. A job's come from its runs through the (job_id,
 * scheduled_time) index, with exact percentiles; a queue's from the per-minute rollups
 * (stats/queue-stats-rollup.ts), a few rows per minute of the window whatever the number
 * of runs, with percentiles as bucket bounds; a series of buckets from the same rollups
 * (run-series.ts).
 */
export function createStatsService(deps: { pool: pg.Pool; js: () => JetStreamClient | undefined; layout: NatsLayout }): ServiceImpl<typeof StatsService> {
  const { pool } = deps;
  return {
    async getJobStats(request) {
      const jobId = requireId("job_id", request.jobId);
      const ms = windowMs(request.window, 1000);
      const job = await pool.query("SELECT 1 FROM jobs WHERE id = $1 AND deleted_time IS NULL", [jobId]);
      if (job.rowCount === 0) throw notFound("job", jobId);
      const { rows } = await pool.query<Counts & { window_start: Date; durations: number[] | null; lags: number[] | null }>(
        `SELECT now() - make_interval(secs => $2::float8 / 1000) AS window_start,
           count(*) FILTER (WHERE state = 4)::int AS succeeded, count(*) FILTER (WHERE state = 5)::int AS failed,
           count(*) FILTER (WHERE state = 6)::int AS cancelled, count(*) FILTER (WHERE state = 7)::int AS timed_out,
           percentile_cont($3::float8[]) WITHIN GROUP (ORDER BY extract(epoch FROM end_time - start_time) * 1000)
             FILTER (WHERE start_time IS NOT NULL) AS durations,
           percentile_cont($3::float8[]) WITHIN GROUP (ORDER BY greatest(0, extract(epoch FROM start_time - scheduled_time) * 1000))
             FILTER (WHERE start_time IS NOT NULL) AS lags
         FROM runs WHERE job_id = $1 AND scheduled_time >= now() - make_interval(secs => $2::float8 / 1000) AND state IN (4, 5, 6, 7)`,
        [jobId, ms, QUANTILES],
      );
      const active = await pool.query<{ state: number; count: string }>(
        "SELECT state, count(*) AS count FROM runs WHERE job_id = $1 AND state IN (1, 2, 3) GROUP BY state",
        [jobId],
      );
      const row = rows[0];
      return {
        windowStart: toTimestamp(row.window_start),
        ended: endedStats(row, row.durations ?? [], row.lags ?? []),
        active: activeCounts(active.rows),
      };
    },

    async getQueueStats(request, context) {
      if (!QUEUE_PATTERN.test(request.queue)) throw invalidArgument("queue: expected 1-64 letters, digits, _ or -");
      checkNamespaceFilter(request.namespace);
      const ms = windowMs(request.window, 60_000);
      const { rows } = await pool.query<Counts & { minute: Date; duration_buckets: number[]; lag_buckets: number[]; window_start: Date }>(
        `SELECT w.window_start, q.succeeded, q.failed, q.cancelled, q.timed_out, q.duration_buckets, q.lag_buckets
         FROM (SELECT date_trunc('minute', now() - make_interval(secs => $2::float8 / 1000)) AS window_start) w
         LEFT JOIN queue_stats_minutes q ON q.queue = $1 AND q.minute >= w.window_start AND ($3 = '' OR q.namespace = $3)`,
        [request.queue, ms, request.namespace],
      );
      const counts: Counts = { succeeded: 0, failed: 0, cancelled: 0, timed_out: 0 };
      const durations = emptyBuckets();
      const lags = emptyBuckets();
      for (const row of rows) {
        if (row.duration_buckets === null) continue;
        counts.succeeded += row.succeeded;
        counts.failed += row.failed;
        counts.cancelled += row.cancelled;
        counts.timed_out += row.timed_out;
        addBuckets(durations, row.duration_buckets);
        addBuckets(lags, row.lag_buckets);
      }
      const active = await pool.query<{ state: number; count: string }>(
        `SELECT r.state, count(*) AS count FROM runs r JOIN jobs j ON j.id = r.job_id
         WHERE r.queue = $1 AND r.state IN (1, 2, 3) AND ($2 = '' OR j.namespace = $2) GROUP BY r.state`,
        [request.queue, request.namespace],
      );
      const js = deps.js();
      // A key of one namespace reads only its namespace's own consumer (namespaced workers):
      // the queue's consumer of every namespace counts the other tenants' runs too.
      const ownOnly = principalOf(context)?.namespace !== undefined;
      const consumer = js ? await readQueueConsumer(js, deps.layout, request.queue, request.namespace || undefined, ownOnly) : undefined;
      return {
        windowStart: toTimestamp(rows[0].window_start),
        ended: endedStats(counts, QUANTILES.map((q) => quantileMs(durations, q)), QUANTILES.map((q) => quantileMs(lags, q))),
        active: activeCounts(active.rows),
        runsWaiting: BigInt(consumer?.waiting ?? 0),
        runsInFlight: BigInt(consumer?.inFlight ?? 0),
        pullRequests: BigInt(consumer?.pullRequests ?? 0),
      };
    },

    getRunSeries: (request) => getRunSeries(pool, request),
  };
}
