import type pg from "pg";
import { JobState } from "@chime/sdk/gen/job_pb";
import { inTransaction } from "../db/pool.js";

/** Runs looked at (and so deleted, at most) per statement, so no statement holds many row locks or runs long. */
const BATCH = 5000;
/** Batches per pass at most: a large backlog (a million old runs) is spread over passes. */
const BATCHES_PER_PASS = 20;

/** Where a sweep starts: before every run (the index orders by scheduled_time, then id). */
const SWEEP_START = { time: "-infinity", id: "00000000-0000-0000-0000-000000000000" };

export interface RunPrunerOptions {
  pool: pg.Pool;
  /** CHIME_RUN_RETENTION_MS, for runs whose job and namespace set none; 0 keeps them. */
  defaultRetentionMs: number;
  /** Runs per statement and statements per pass (the defaults suit the server; tests and the benchmark change them). */
  batchSize?: number;
  batchesPerPass?: number;
}

/**
 * Deletes finished runs that ended longer ago than their retention (the job's
 * run_retention, else its namespace's, else the server default), with their logs, and
 * then the one-off or deleted jobs those runs leave with no run at all.
 *
 * Every retention is at least the event retention (config.ts and checkRunRetention), so a
 * deleted run's events, and those its row held, are already below
 * `event_retention.pruned_through`: resume tokens from before keep getting OUT_OF_RANGE.
 *
 * The scan is bounded by the smallest retention in force: a run that ended longer ago than
 * its retention was scheduled before it ended (scheduled_time <= end_time), so before
 * now() - that smallest one, which the runs_scheduled_time index finds. Within that range
 * each run is judged by its own retention. Runs kept there (their job keeps them longer)
 * are not looked at again and again: a sweep walks the range oldest first, BATCH runs per
 * statement, continuing where the last statement (or pass) stopped, and starts over once
 * it reaches the end. Rows are locked with SKIP LOCKED: the scheduler and the ingester
 * never wait on it.
 */
export function createRunPruner(options: RunPrunerOptions) {
  const { pool } = options;
  const batchSize = options.batchSize ?? BATCH;
  const batchesPerPass = options.batchesPerPass ?? BATCHES_PER_PASS;
  let cursor = SWEEP_START;
  return {
    /** One pass; returns what it deleted. */
    async pass(): Promise<{ runs: number; jobs: number }> {
      let runs = 0;
      let jobs = 0;
      const boundMs = await smallestRetentionInForce(pool, options.defaultRetentionMs);
      if (boundMs === null) {
        cursor = SWEEP_START;
        return { runs, jobs };
      }
      for (let batch = 0; batch < batchesPerPass; batch++) {
        const step = await pruneBatch(pool, { boundMs, defaultRetentionMs: options.defaultRetentionMs, cursor, limit: batchSize });
        runs += step.deleted;
        if (step.jobIds.length > 0) jobs += await deleteJobsLeftWithoutRuns(pool, step.jobIds);
        if (!step.last) {
          cursor = SWEEP_START;
          break;
        }
        cursor = step.last;
      }
      return { runs, jobs };
    },
  };
}

/**
 * The shortest retention any run may have now, or null when none is in force (the server
 * keeps runs, and no namespace or job sets a retention). The jobs' minimum is read off the
 * jobs_run_retention index, which holds only the jobs that set one.
 */
async function smallestRetentionInForce(pool: pg.Pool, defaultRetentionMs: number): Promise<number | null> {
  const { rows } = await pool.query<{ ms: number | null }>(
    `SELECT least(nullif($1::bigint, 0),
                  (SELECT min(run_retention_ms) FROM namespace_limits WHERE run_retention_ms > 0),
                  (SELECT min(run_retention_ms) FROM jobs WHERE run_retention_ms IS NOT NULL)) AS ms`,
    [defaultRetentionMs],
  );
  return rows[0].ms;
}

/**
 * Looks at the next `limit` runs of the sweep (scheduled before now() - bound, after the
 * cursor) and deletes those finished longer ago than their own retention. `last` is where
 * the next batch goes on, absent once the range is walked to its end.
 */
async function pruneBatch(
  pool: pg.Pool,
  step: { boundMs: number; defaultRetentionMs: number; cursor: { time: string; id: string }; limit: number },
): Promise<{ deleted: number; jobIds: string[]; last?: { time: string; id: string } }> {
  const { rows } = await pool.query<{ scanned: number; last_time: string | null; last_id: string | null; deleted: number; job_ids: string[] | null }>(
    `WITH scanned AS (
       SELECT id, scheduled_time FROM runs
       WHERE scheduled_time < now() - make_interval(secs => $1::float8 / 1000)
         AND (scheduled_time, id) > ($2::timestamptz, $3::uuid)
       ORDER BY scheduled_time, id
       LIMIT $4
     ), doomed AS (
       SELECT r.id FROM scanned s
       JOIN runs r ON r.id = s.id
       LEFT JOIN jobs j ON j.id = r.job_id
       LEFT JOIN namespace_limits n ON n.namespace = j.namespace
       WHERE r.state IN (4, 5, 6, 7)
         AND r.end_time < now() - make_interval(secs => coalesce(j.run_retention_ms, nullif(n.run_retention_ms, 0), nullif($5::bigint, 0))::float8 / 1000)
       FOR UPDATE OF r SKIP LOCKED
     ), gone AS (
       DELETE FROM runs WHERE id IN (SELECT id FROM doomed) RETURNING job_id
     ), last AS (
       SELECT scheduled_time, id FROM scanned ORDER BY scheduled_time DESC, id DESC LIMIT 1
     )
     SELECT (SELECT count(*) FROM scanned)::int AS scanned,
            (SELECT scheduled_time::text FROM last) AS last_time, (SELECT id FROM last) AS last_id,
            (SELECT count(*) FROM gone)::int AS deleted,
            (SELECT array_agg(DISTINCT job_id) FROM gone) AS job_ids`,
    [step.boundMs, step.cursor.time, step.cursor.id, step.limit, step.defaultRetentionMs],
  );
  const row = rows[0];
  const last = row.scanned === step.limit && row.last_time !== null && row.last_id !== null ? { time: row.last_time, id: row.last_id } : undefined;
  return { deleted: row.deleted, jobIds: row.job_ids ?? [], last };
}

/**
 * Deletes those of the jobs that are completed or deleted and have no run left. Their rows
 * are locked first and the runs looked for by a second statement, whose snapshot is taken
 * after the locks: a TriggerJob that inserted a run under the job's row lock has committed
 * by then and is seen, and one that comes later waits for the lock and then finds no job.
 * (One statement would judge NOT EXISTS on the snapshot it started with, and could leave
 * a run just inserted without its job: runs.job_id has no foreign key, migration 0021.)
 */
async function deleteJobsLeftWithoutRuns(pool: pg.Pool, jobIds: string[]): Promise<number> {
  return inTransaction(pool, async (client) => {
    const { rows } = await client.query<{ id: string }>(
      "SELECT id FROM jobs WHERE id = ANY($1::uuid[]) AND (state = $2 OR deleted_time IS NOT NULL) FOR UPDATE SKIP LOCKED",
      [jobIds, JobState.COMPLETED],
    );
    if (rows.length === 0) return 0;
    const gone = await client.query(
      "DELETE FROM jobs j WHERE j.id = ANY($1::uuid[]) AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.job_id = j.id)",
      [rows.map((r) => r.id)],
    );
    return gone.rowCount ?? 0;
  });
}
