import { RunState } from "@chime/sdk";
import type pg from "pg";
import { jobFromRow, type JobRow } from "../jobs/job-store.js";
import { fencedTransaction } from "./leader-elector.js";
import { markDispatched, type RunPublisher } from "./run-publisher.js";

interface UndispatchedRow extends JobRow {
  run_id: string;
  scheduled_time: Date;
}

/**
 * Publishes runs that were committed but never confirmed published: the leader crashed
 * between commit and ack, NATS was down, or a BUFFER_ONE run was held until its job had
 * no other active run. Runs younger than `graceMs` are left to the path that wrote them.
 */
export function createReconciler(options: { pool: pg.Pool; publisher: RunPublisher; graceMs: number; batchSize: number }) {
  return {
    async pass(epoch: number): Promise<number> {
      const { rows } = await options.pool.query<UndispatchedRow>(
        `SELECT r.id AS run_id, r.scheduled_time,
                j.id, j.namespace, j.name, j.queue, j.labels, j.spec, j.state, j.next_run_time, j.run_count, j.create_time, j.update_time
         FROM runs r JOIN jobs j ON j.id = r.job_id
         WHERE r.dispatch_time IS NULL AND r.state = ${RunState.QUEUED}
           AND r.create_time < now() - make_interval(secs => $1::double precision / 1000)
           -- A run written ahead of its fire time is the leader's to publish at that time.
           AND r.scheduled_time < now() - make_interval(secs => $1::double precision / 1000)
           AND (NOT r.held OR NOT EXISTS (
             SELECT 1 FROM runs other
             WHERE other.job_id = r.job_id AND other.id <> r.id AND NOT other.held
               AND other.state IN (${RunState.QUEUED}, ${RunState.RUNNING}, ${RunState.RETRY_WAIT})))
         ORDER BY r.create_time
         LIMIT $2`,
        [options.graceMs, options.batchSize],
      );
      if (rows.length === 0) return 0;
      const published = await options.publisher.publish(
        rows.map((row) => ({ id: row.run_id, scheduledTime: row.scheduled_time, job: jobFromRow(row) })),
        "reconciler",
        (acked) => fencedTransaction(options.pool, epoch, (client) => markDispatched(client, acked)),
      );
      return published.length;
    },
  };
}
