import type pg from "pg";
import { jobFromRow } from "../jobs/job-store.js";
import { findUndispatched, markDispatched } from "../runs/run-store.js";
import { fencedTransaction } from "./leader-elector.js";
import type { RunPublisher } from "./run-publisher.js";

/**
 * Publishes runs that were committed but never confirmed published: the leader crashed
 * between commit and ack, NATS was down, or a BUFFER_ONE run was held until its job had
 * no other active run. Runs younger than `graceMs` are left to the path that wrote them.
 */
export function createReconciler(options: { pool: pg.Pool; publisher: RunPublisher; graceMs: number; batchSize: number }) {
  return {
    async pass(epoch: number): Promise<number> {
      const rows = await findUndispatched(options.pool, options.graceMs, options.batchSize);
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
