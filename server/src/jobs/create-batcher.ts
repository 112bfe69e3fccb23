import type pg from "pg";
import { insertJobs, type JobInsert } from "./job-insert.js";

interface Pending {
  insert: JobInsert;
  resolve: (inserted: boolean) => void;
  reject: (error: unknown) => void;
}

const MAX_BATCH = 1000;

/**
 * Coalesces concurrent CreateJob inserts into one multi-row INSERT: single-row commits
 * top out at a few thousand a second, one statement for many rows does not. Batching is
 * natural: the first insert goes at once, and the ones that arrive while a statement is
 * in flight go together in the next, so an idle server adds no delay.
 *
 * A row that hits a unique index (name taken, or request id seen) is not inserted; the
 * caller learns that it was not, and finds out why.
 */
export function createJobInsertBatcher(pool: pg.Pool) {
  let queue: Pending[] = [];
  let flushing = false;

  async function flush(): Promise<void> {
    flushing = true;
    while (queue.length > 0) {
      const batch = queue.slice(0, MAX_BATCH);
      queue = queue.slice(batch.length);
      try {
        const inserted = await insertJobs(pool, batch.map((p) => p.insert));
        for (const pending of batch) pending.resolve(inserted.has(pending.insert.id));
      } catch (error) {
        for (const pending of batch) pending.reject(error);
      }
    }
    flushing = false;
  }

  return {
    /** Inserts one row with the others of its batch; resolves whether it was inserted. */
    insert(insert: JobInsert): Promise<boolean> {
      return new Promise((resolve, reject) => {
        queue.push({ insert, resolve, reject });
        if (!flushing) {
          flushing = true;
          // Let the calls of this turn of the event loop join the first statement.
          setImmediate(() => void flush());
        }
      });
    },
  };
}
