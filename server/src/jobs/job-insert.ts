import type pg from "pg";
import { ScheduleEventReason } from "@chime/sdk/gen/watch_service_pb";
import type { JobRow } from "./job-store.js";

/**
 * One job row ready to insert: validated, planned, its id chosen. The keys are the columns'
 * names, so a list of these is the JSON document the insert reads its rows from.
 */
export type JobInsert = Omit<JobRow, "run_count" | "update_time"> & {
  request_id: string | null;
  /** The cron times DST_GAP_POLICY_SKIP dropped before the first fire: a DST_SKIPPED schedule event, inserted with the row. */
  dst_skipped?: { first: Date; last: Date; count: number };
};

/**
 * Inserts the rows in one statement (hence one transaction) and returns the ids of those
 * inserted. A row that hits a unique index (its name taken by a live job, its request id
 * seen, or an earlier row of the same statement with either) is skipped, not an error, so
 * the others still go in; the caller learns which from the ids.
 *
 * The rows travel as one JSON document: JSON.stringify is native, where pg's escaping of an
 * array parameter per column ran in JavaScript, value by value. Only the id comes back: every
 * other column is what the caller sent, so nothing needs to be parsed back.
 */
export async function insertJobs(db: pg.Pool | pg.PoolClient, rows: JobInsert[]): Promise<Set<string>> {
  const insert = `INSERT INTO jobs (id, namespace, name, queue, labels, spec, state, next_run_time, request_id, create_time, update_time)
     SELECT id, namespace, name, queue, labels, spec, state, next_run_time, request_id, create_time, create_time
     FROM jsonb_to_recordset($1::jsonb)
       AS v(id uuid, namespace text, name text, queue text, labels jsonb, spec jsonb, state smallint,
            next_run_time timestamptz, request_id text, create_time timestamptz)
     ON CONFLICT DO NOTHING
     RETURNING id`;
  // Rows whose first fire stepped over a skipped DST gap time get their schedule event in the
  // same statement (so in the same transaction); the common batch has none and runs as is.
  const sql = rows.some((row) => row.dst_skipped)
    ? `WITH inserted AS (${insert}),
       skipped AS (
         INSERT INTO schedule_events (job_id, reason, count, first_scheduled_time, last_scheduled_time, time)
         SELECT v.id, ${ScheduleEventReason.DST_SKIPPED}, (v.dst_skipped->>'count')::int, (v.dst_skipped->>'first')::timestamptz,
                (v.dst_skipped->>'last')::timestamptz, v.create_time
         FROM jsonb_to_recordset($1::jsonb) AS v(id uuid, dst_skipped jsonb, create_time timestamptz)
         JOIN inserted USING (id)
         WHERE v.dst_skipped IS NOT NULL)
       SELECT id FROM inserted`
    : insert;
  const { rows: inserted } = await db.query<{ id: string }>(sql, [JSON.stringify(rows)]);
  return new Set(inserted.map((row) => row.id));
}
