import type pg from "pg";
import { v7 as uuidv7 } from "uuid";
import type { JsonObject } from "@bufbuild/protobuf";

/** One prepared job insert: every column of the row, already validated and planned. */
export interface JobInsert {
  namespace: string;
  name: string;
  queue: string;
  labels: Record<string, string>;
  spec: JsonObject;
  state: number;
  nextRunTime: Date | null;
  requestId: string;
  createTime: Date;
}

/** The inserted row's columns, or why there is none. */
export type InsertOutcome<Row> =
  | { kind: "inserted"; row: Row }
  | { kind: "nameTaken" }
  | { kind: "requestSeen" };

interface Pending<Row> {
  insert: JobInsert;
  resolve: (outcome: InsertOutcome<Row>) => void;
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
 * caller learns which and answers accordingly.
 */
export function createJobInsertBatcher<Row extends { name: string; namespace: string; request_id: string | null }>(
  pool: pg.Pool,
  columns: string,
) {
  let queue: Pending<Row>[] = [];
  let flushing = false;

  async function insertBatch(batch: Pending<Row>[]): Promise<void> {
    const inserts = batch.map((p) => p.insert);
    const { rows } = await pool.query<Row>(
      `INSERT INTO jobs (id, namespace, name, queue, labels, spec, state, next_run_time, request_id, create_time, update_time)
       SELECT id, namespace, name, queue, labels::jsonb, spec::jsonb, state, next_run_time, request_id, create_time, create_time
       FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::smallint[], $8::timestamptz[],
                   $9::text[], $10::timestamptz[])
         AS v(id, namespace, name, queue, labels, spec, state, next_run_time, request_id, create_time)
       ON CONFLICT DO NOTHING
       RETURNING ${columns}`,
      [
        inserts.map(() => uuidv7()),
        inserts.map((i) => i.namespace),
        inserts.map((i) => i.name),
        inserts.map((i) => i.queue),
        inserts.map((i) => JSON.stringify(i.labels)),
        inserts.map((i) => JSON.stringify(i.spec)),
        inserts.map((i) => i.state),
        inserts.map((i) => i.nextRunTime),
        inserts.map((i) => i.requestId || null),
        inserts.map((i) => i.createTime),
      ],
    );
    const byKey = new Map(rows.map((row) => [`${row.namespace}\u0000${row.name}`, row]));
    const claimed = new Set<string>();
    for (const pending of batch) {
      const key = `${pending.insert.namespace}\u0000${pending.insert.name}`;
      const row = byKey.get(key);
      // Two inserts of one name in the same batch: only one row came back; the first claims it.
      if (row && !claimed.has(key) && (row.request_id ?? "") === pending.insert.requestId) {
        claimed.add(key);
        pending.resolve({ kind: "inserted", row });
      } else {
        pending.resolve({ kind: pending.insert.requestId ? "requestSeen" : "nameTaken" });
      }
    }
  }

  async function flush(): Promise<void> {
    flushing = true;
    while (queue.length > 0) {
      const batch = queue.slice(0, MAX_BATCH);
      queue = queue.slice(batch.length);
      try {
        await insertBatch(batch);
      } catch (error) {
        for (const pending of batch) pending.reject(error);
      }
    }
    flushing = false;
  }

  return {
    insert(insert: JobInsert): Promise<InsertOutcome<Row>> {
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
