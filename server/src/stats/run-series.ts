import type { Duration } from "@bufbuild/protobuf/wkt";
import type { GetRunSeriesRequest, GetRunSeriesResponse } from "@chime/sdk/gen/stats_service_pb";
import type pg from "pg";
import { invalidArgument } from "../api/errors.js";
import { checkNamespaceFilter, QUEUE_PATTERN } from "../jobs/job-validation.js";
import { durationToMs, msToDuration, toTimestamp } from "../util/time.js";
import { endedStatsOfHistograms, windowMs, type Counts } from "./ended-stats.js";
import { addBuckets, BUCKET_COUNT, emptyBuckets } from "./histogram.js";

const MINUTE_MS = 60_000;
/** The default width aims at this many buckets: enough for a chart's trend, few enough to read. */
const TARGET_BUCKETS = 60;
/** window / bucket_width at most this: a day of minutes, and a bound on the answer's size. */
export const MAX_BUCKETS = 1440;
/** Default widths in minutes: each divides the next unit (hour, day), so bucket edges fall on round local times. */
const NICE_WIDTHS_MIN = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440];

/** The first nice width that makes at most TARGET_BUCKETS buckets of the window (ms). */
export function defaultBucketWidthMs(window: number): number {
  const minutes = NICE_WIDTHS_MIN.find((m) => window / (m * MINUTE_MS) <= TARGET_BUCKETS) ?? NICE_WIDTHS_MIN[NICE_WIDTHS_MIN.length - 1];
  return minutes * MINUTE_MS;
}

/** The request's bucket width in ms, or the default; INVALID_ARGUMENT naming bucket_width. */
export function bucketWidthMs(width: Duration | undefined, window: number): number {
  if (!width) return defaultBucketWidthMs(window);
  const ms = durationToMs(width);
  if (!(ms >= MINUTE_MS) || ms % MINUTE_MS !== 0 || width.nanos !== 0) throw invalidArgument("bucket_width: expected whole minutes, at least 1 min");
  if (ms > window) throw invalidArgument("bucket_width: expected at most the window");
  if (window / ms > MAX_BUCKETS) {
    throw invalidArgument(`bucket_width: expected at least ${Math.ceil(window / MAX_BUCKETS / MINUTE_MS)} min for this window (at most ${MAX_BUCKETS} buckets)`);
  }
  return ms;
}

/** One bucket's sums, as the query returns them (float8, so numbers past 2^31 stay exact). */
export interface BucketRow extends Counts {
  bucket: number;
  durations: number[];
  lags: number[];
}

interface Bucket {
  counts: Counts;
  durations: number[];
  lags: number[];
}

const zero = (): Bucket => ({ counts: { succeeded: 0, failed: 0, cancelled: 0, timed_out: 0 }, durations: emptyBuckets(), lags: emptyBuckets() });

function add(into: Bucket, row: Omit<BucketRow, "bucket">): void {
  into.counts.succeeded += row.succeeded;
  into.counts.failed += row.failed;
  into.counts.cancelled += row.cancelled;
  into.counts.timed_out += row.timed_out;
  addBuckets(into.durations, row.durations);
  addBuckets(into.lags, row.lags);
}

/**
 * The series from the query's rows (pure): one bucket per width from start to the one `end`
 * falls in, zero where no row is, and the total of them all.
 */
export function assembleSeries(rows: readonly BucketRow[], startMs: number, endMs: number, widthMs: number): Omit<GetRunSeriesResponse, "$typeName" | "$unknown"> {
  const n = Math.floor((endMs - startMs) / widthMs) + 1;
  const buckets = Array.from({ length: n }, zero);
  const total = zero();
  for (const row of rows) {
    const bucket = buckets[row.bucket];
    // Beyond the last bucket (a rollup minute ahead of this clock) or before the first: not in the window.
    if (!bucket) continue;
    add(bucket, row);
    add(total, row);
  }
  return {
    windowStart: toTimestamp(new Date(startMs)),
    windowEnd: toTimestamp(new Date(endMs)),
    bucketWidth: msToDuration(widthMs),
    buckets: buckets.map((b, i) => ({
      $typeName: "chime.v1.RunSeriesBucket",
      startTime: toTimestamp(new Date(startMs + i * widthMs)),
      ended: endedStatsOfHistograms(b.counts, b.durations, b.lags),
    })),
    total: endedStatsOfHistograms(total.counts, total.durations, total.lags),
  };
}

/** ARRAY[sum(col[1]), ...] over every histogram bucket: an element-wise sum in one aggregate pass. */
const sumArray = (column: string) => `ARRAY[${Array.from({ length: BUCKET_COUNT }, (_, i) => `coalesce(sum(q.${column}[${i + 1}]), 0)::float8`).join(", ")}]`;

/**
 * GetRunSeries: the per-minute rollups (queue_stats_minutes) summed into buckets by
 * Postgres, one row per bucket that has any, so its cost follows the window's minutes
 * (times the queues and namespaces read), never the number of runs. Buckets are aligned to
 * multiples of their width since the epoch, by Postgres' clock, so a chart refreshed every
 * few seconds keeps its bucket edges.
 */
export async function getRunSeries(pool: pg.Pool, request: GetRunSeriesRequest): Promise<Omit<GetRunSeriesResponse, "$typeName" | "$unknown">> {
  const window = windowMs(request.window, MINUTE_MS);
  checkNamespaceFilter(request.namespace);
  if (request.queue && !QUEUE_PATTERN.test(request.queue)) throw invalidArgument("queue: expected 1-64 letters, digits, _ or -");
  const width = bucketWidthMs(request.bucketWidth, window);

  const params: unknown[] = [window, width];
  const filters: string[] = [];
  // Only the filters asked for, so the planner sees plain conditions (the queue one uses the primary key).
  if (request.queue) filters.push(`q.queue = $${params.push(request.queue)}`);
  if (request.namespace) filters.push(`q.namespace = $${params.push(request.namespace)}`);
  const { rows } = await pool.query<{ window_start: Date; window_end: Date; bucket: number | null } & Partial<Omit<BucketRow, "bucket">>>(
    `WITH w AS (
       SELECT now() AS window_end,
         to_timestamp(floor((extract(epoch FROM now()) * 1000 - $1::float8) / $2::float8) * $2::float8 / 1000) AS window_start
     ), b AS (
       SELECT floor(extract(epoch FROM q.minute - w.window_start) * 1000 / $2::float8)::int AS bucket,
         sum(q.succeeded)::float8 AS succeeded, sum(q.failed)::float8 AS failed,
         sum(q.cancelled)::float8 AS cancelled, sum(q.timed_out)::float8 AS timed_out,
         ${sumArray("duration_buckets")} AS durations, ${sumArray("lag_buckets")} AS lags
       FROM queue_stats_minutes q, w
       WHERE q.minute >= w.window_start AND q.minute <= w.window_end${filters.map((f) => ` AND ${f}`).join("")}
       GROUP BY 1
     )
     SELECT w.window_start, w.window_end, b.* FROM w LEFT JOIN b ON true ORDER BY b.bucket`,
    params,
  );
  const found = rows.filter((r): r is typeof r & BucketRow => r.bucket !== null);
  return assembleSeries(found, rows[0].window_start.getTime(), rows[0].window_end.getTime(), width);
}
