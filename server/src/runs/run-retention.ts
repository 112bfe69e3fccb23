import type pg from "pg";
import { JobState } from "@chime/sdk/gen/job_pb";

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
        if (jobIds.length > 0) {
          const gone = await options.pool.query(
            `DELETE FROM jobs j WHERE j.id = ANY($1::uuid[]) AND (j.state = $2 OR j.deleted_time IS NOT NULL)
               AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.job_id = j.id)`,
            [jobIds, JobState.COMPLETED],
          );
          jobs += gone.rowCount ?? 0;
        }
        if ((deleted.rowCount ?? 0) < BATCH) break;
      }
      return { runs, jobs };
    },
  };
}
