import type pg from "pg";
import { fencedTransaction } from "./leader-elector.js";

/** Events deleted per pass at most, so one pass never holds locks for long. */
const PRUNE_BATCH = 50_000;

/**
 * Deletes run and job events older than the retention, oldest cursors first. In the
 * same transaction it raises `event_retention.pruned_through`, so a watcher resuming
 * from a deleted cursor gets OUT_OF_RANGE instead of a silent gap. Runs themselves
 * are kept longer (runs/run-retention.ts deletes them later); the events kept in run
 * and job rows (QUEUED, RUNNING, the end, COMPLETED) leave the run_event_log and
 * job_event_log views once below `pruned_through`.
 */
export function createEventPruner(options: { pool: pg.Pool; retentionMs: number }) {
  return {
    /** Returns the number of events deleted. */
    async pass(epoch: number): Promise<number> {
      return fencedTransaction(options.pool, epoch, async (client) => {
        const { rows } = await client.query<{ through: number | null }>(
          `SELECT max(cursor)::bigint AS through FROM (
             SELECT cursor FROM run_event_log
             WHERE time < now() - make_interval(secs => $1::double precision / 1000)
             ORDER BY cursor LIMIT $2
           ) old`,
          [options.retentionMs, PRUNE_BATCH],
        );
        const through = rows[0].through;
        if (through === null) return 0;
        await client.query("UPDATE event_retention SET pruned_through = greatest(pruned_through, $1)", [through]);
        const runEvents = await client.query("DELETE FROM run_events WHERE cursor <= $1", [through]);
        const jobEvents = await client.query("DELETE FROM job_events WHERE cursor <= $1", [through]);
        const scheduleEvents = await client.query("DELETE FROM schedule_events WHERE cursor <= $1", [through]);
        return (runEvents.rowCount ?? 0) + (jobEvents.rowCount ?? 0) + (scheduleEvents.rowCount ?? 0);
      });
    },
  };
}
