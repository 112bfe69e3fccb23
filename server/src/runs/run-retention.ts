import type pg from "pg";
import { JobState } from "@chime/sdk/gen/job_pb";
import { inTransaction } from "../db/pool.js";

/** Runs deleted per statement, so no statement holds many row locks or runs long. */
const BATCH = 5000;
/** Batches per pass at most: a large backlog (a million old runs) is spread over passes. */
const BATCHES_PER_PASS = 20;

/**
 * Deletes finished runs that ended longer than the retention ago, oldest first in small
 * batches that skip locked rows (the scheduler and the ingester never wait on it), and
 * then the one-off or deleted jobs those runs leave with no run at all. The retention is
 * at least the event retention (config.ts checks it), so a deleted run's events, and the
 * QUEUED event its row held, are already below `event_retention.pruned_through`: resume
 * tokens from before keep getting OUT_OF_RANGE.
 */
export function createRunPruner(options: { pool: pg.Pool; retentionMs: number }) {
  return {
    /** One pass; returns what it deleted. */
    async pass(): Promise<{ runs: number; jobs: number }> {
      let runs = 0;
      let jobs = 0;
      for (let batch = 0; batch < BATCHES_PER_PASS; batch++) {
        // scheduled_time <= end_time, so the runs_scheduled_time index bounds the scan.
        const deleted = await options.pool.query<{ job_id: string }>(
          `DELETE FROM runs WHERE id IN (
             SELECT id FROM runs
             WHERE scheduled_time < now() - make_interval(secs => $1::float8 / 1000)
               AND state IN (4, 5, 6, 7) AND end_time < now() - make_interval(secs => $1::float8 / 1000)
             LIMIT $2 FOR UPDATE SKIP LOCKED)
           RETURNING job_id`,
          [options.retentionMs, BATCH],
        );
        runs += deleted.rowCount ?? 0;
        const jobIds = [...new Set(deleted.rows.map((r) => r.job_id))];
        if (jobIds.length > 0) jobs += await deleteJobsLeftWithoutRuns(options.pool, jobIds);
        if ((deleted.rowCount ?? 0) < BATCH) break;
      }
      return { runs, jobs };
    },
  };
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
