import type pg from "pg";
import { create } from "@bufbuild/protobuf";
import { AuditEntrySchema, type AuditEntry } from "@chime/sdk/gen/admin_service_pb";
import { toTimestamp } from "../util/time.js";

export interface AuditRecord {
  keyId: string;
  keyName: string;
  action: string;
  target: string;
  /** The target's namespace, when the caller knows it; else read from `jobId`'s job. */
  namespace?: string;
  jobId?: string;
  address: string;
}

interface AuditRow {
  id: string;
  time: Date;
  key_id: string | null;
  key_name: string;
  action: string;
  target: string;
  namespace: string;
  address: string;
}

/**
 * The audit log (table audit_log, append-only). Entries are written after the change
 * commits and before the call is answered; concurrent calls share one INSERT (while one is
 * in flight the next batch gathers), so a burst of creates costs a statement per batch.
 */
export function createAuditLog(pool: pg.Pool) {
  let pending: Array<{ record: AuditRecord; done: (error?: unknown) => void }> = [];
  let writing = false;

  const flush = async () => {
    if (writing || pending.length === 0) return;
    writing = true;
    const batch = pending;
    pending = [];
    try {
      await pool.query(
        `INSERT INTO audit_log (key_id, key_name, action, target, namespace, address)
         SELECT NULLIF(r.key_id, '')::uuid, r.key_name, r.action, r.target,
                COALESCE(r.namespace, (SELECT j.namespace FROM jobs j WHERE j.id = r.job_id::uuid), ''), r.address
           FROM jsonb_to_recordset($1::jsonb) AS r(key_id text, key_name text, action text, target text, namespace text, job_id text, address text)`,
        [JSON.stringify(batch.map(({ record: r }) => ({ key_id: r.keyId, key_name: r.keyName, action: r.action, target: r.target, namespace: r.namespace ?? null, job_id: r.jobId ?? null, address: r.address })))],
      );
      for (const item of batch) item.done();
    } catch (error) {
      for (const item of batch) item.done(error);
    } finally {
      writing = false;
      void flush();
    }
  };

  return {
    /** Resolves once the entries are stored. */
    record(records: AuditRecord[]): Promise<void> {
      if (records.length === 0) return Promise.resolve();
      const stored = Promise.all(
        records.map((record) => new Promise<void>((resolve, reject) => pending.push({ record, done: (error) => (error ? reject(error) : resolve()) }))),
      ).then(() => undefined);
      void flush();
      return stored;
    },

    /** Entries newest first, of one namespace (undefined: all), below an id (a page's end). */
    async list(namespace: string | undefined, beforeId: bigint | undefined, limit: number): Promise<AuditEntry[]> {
      const { rows } = await pool.query<AuditRow>(
        `SELECT id, time, key_id, key_name, action, target, namespace, address FROM audit_log
          WHERE ($1::text IS NULL OR namespace = $1) AND ($2::bigint IS NULL OR id < $2) ORDER BY id DESC LIMIT $3`,
        [namespace ?? null, beforeId === undefined ? null : String(beforeId), limit],
      );
      return rows.map((row) =>
        create(AuditEntrySchema, {
          id: BigInt(row.id),
          time: toTimestamp(row.time),
          keyId: row.key_id ?? "",
          keyName: row.key_name,
          action: row.action,
          target: row.target,
          namespace: row.namespace,
          address: row.address,
        }),
      );
    },
  };
}

export type AuditLog = ReturnType<typeof createAuditLog>;
