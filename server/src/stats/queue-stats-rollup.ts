import type pg from "pg";
import { RunState } from "@chime/sdk/gen/run_pb";
import { createLogConsumerPass, readEndedRuns, type EndedRun } from "../events/log-consumer.js";
import type { Metrics } from "../metrics.js";
import { bucketOf, emptyBuckets } from "./histogram.js";

/** Rollup rows older than this are deleted (the longest window GetQueueStats serves). */
export const ROLLUP_RETENTION_DAYS = 31;

export interface MinuteRow {
  queue: string;
  namespace: string;
  minute: Date;
  counts: Record<"succeeded" | "failed" | "cancelled" | "timed_out", number>;
  durations: number[];
  lags: number[];
}

const OUTCOME_COLUMN: Partial<Record<RunState, keyof MinuteRow["counts"]>> = {
  [RunState.SUCCEEDED]: "succeeded",
  [RunState.FAILED]: "failed",
  [RunState.CANCELLED]: "cancelled",
  [RunState.TIMED_OUT]: "timed_out",
};

/** A started run's last attempt, start to end, and its start lag (scheduled time to start); none if it never started. */
function startedTimes(run: EndedRun): { durationMs: number; lagMs: number } | undefined {
  if (!run.startTime) return undefined;
  return {
    durationMs: Math.max(0, run.time.getTime() - run.startTime.getTime()),
    lagMs: Math.max(0, run.startTime.getTime() - run.scheduledTime.getTime()),
  };
}

/** Folds run ends into one row per queue, minute of their end and namespace (pure). */
export function rollUp(ended: readonly EndedRun[]): MinuteRow[] {
  const rows = new Map<string, MinuteRow>();
  for (const run of ended) {
    const column = OUTCOME_COLUMN[run.state];
    if (!column) continue;
    const minute = new Date(Math.floor(run.time.getTime() / 60_000) * 60_000);
    const key = `${run.queue}\u0000${minute.getTime()}\u0000${run.namespace}`;
    let row = rows.get(key);
    if (!row) {
      row = { queue: run.queue, namespace: run.namespace, minute, counts: { succeeded: 0, failed: 0, cancelled: 0, timed_out: 0 }, durations: emptyBuckets(), lags: emptyBuckets() };
      rows.set(key, row);
    }
    row.counts[column]++;
    const times = startedTimes(run);
    if (times) {
      row.durations[bucketOf(times.durationMs)]++;
      row.lags[bucketOf(times.lagMs)]++;
    }
  }
  return [...rows.values()];
}

/** Adds rolled-up rows into queue_stats_minutes (the rollup's write; tests use it to lay out history). */
export async function writeMinuteRows(client: pg.ClientBase, rows: readonly MinuteRow[]): Promise<number> {
  for (const row of rows) {
    await client.query(
      `INSERT INTO queue_stats_minutes AS q (queue, minute, namespace, succeeded, failed, cancelled, timed_out, duration_buckets, lag_buckets)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       ON CONFLICT (queue, minute, namespace) DO UPDATE SET
         succeeded = q.succeeded + EXCLUDED.succeeded,
         failed = q.failed + EXCLUDED.failed,
         cancelled = q.cancelled + EXCLUDED.cancelled,
         timed_out = q.timed_out + EXCLUDED.timed_out,
         duration_buckets = (SELECT array_agg(a + b ORDER BY i) FROM unnest(q.duration_buckets, EXCLUDED.duration_buckets) WITH ORDINALITY AS t (a, b, i)),
         lag_buckets = (SELECT array_agg(a + b ORDER BY i) FROM unnest(q.lag_buckets, EXCLUDED.lag_buckets) WITH ORDINALITY AS t (a, b, i))`,
      [row.queue, row.minute, row.namespace, row.counts.succeeded, row.counts.failed, row.counts.cancelled, row.counts.timed_out, row.durations, row.lags],
    );
  }
  return rows.length;
}

/**
 * Keeps queue_stats_minutes up to date: a consumer of the run event log, so every run end
 * is counted exactly once, a few rows per pass whatever the number of runs.
 */
export function createQueueStatsRollup(pool: pg.Pool, metrics: Pick<Metrics, "runsEnded" | "runDuration" | "runStartLag">): () => Promise<number> {
  return createLogConsumerPass(pool, {
    name: "queue_stats",
    read: readEndedRuns,
    prepare: async (ended) => rollUp(ended),
    // The same run ends, as metrics: each counted by the one process that consumed it.
    committed: (ended) => {
      // Counted per (queue, state) and observed through each queue's child: a labelled
      // call per run would hash its labels three times a run.
      const ends = new Map<string, { queue: string; state: RunState; count: number }>();
      const children = new Map<string, { duration: ReturnType<Metrics["runDuration"]["labels"]>; lag: ReturnType<Metrics["runStartLag"]["labels"]> }>();
      for (const run of ended) {
        const key = `${run.queue}\u0000${run.state}`;
        const end = ends.get(key);
        if (end) end.count++;
        else ends.set(key, { queue: run.queue, state: run.state, count: 1 });
        const times = startedTimes(run);
        if (!times) continue;
        let child = children.get(run.queue);
        if (!child) children.set(run.queue, (child = { duration: metrics.runDuration.labels({ queue: run.queue }), lag: metrics.runStartLag.labels({ queue: run.queue }) }));
        child.duration.observe(times.durationMs / 1000);
        child.lag.observe(times.lagMs / 1000);
      }
      for (const { queue, state, count } of ends.values()) metrics.runsEnded.inc({ queue, state: RunState[state] }, count);
    },
    write: writeMinuteRows,
  });
}

/** Deletes rollup rows past the retention; returns how many. */
export async function pruneQueueStats(pool: pg.Pool): Promise<number> {
  const result = await pool.query(`DELETE FROM queue_stats_minutes WHERE minute < now() - make_interval(days => $1)`, [ROLLUP_RETENTION_DAYS]);
  return result.rowCount ?? 0;
}
