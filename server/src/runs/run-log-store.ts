import { create, type JsonObject } from "@bufbuild/protobuf";
import { RunLogLevel, RunLogLineSchema, type RunLogLine } from "@chime/sdk/gen/run_pb";
import { boundRunLogLines, runLogLineChars, type RunLogLimits, type RunStatusUpdate } from "@chime/sdk";
import type pg from "pg";
import { invalidArgument } from "../api/errors.js";
import { decodePageToken, encodePageToken } from "../api/page-token.js";
import { toDate, toTimestamp } from "../util/time.js";

/**
 * The run_logs table: the lines of accepted status updates that carry any, bounded per run
 * across its attempts, and pages of one run's lines. Updates without lines (almost all)
 * cost nothing here: no statement runs when no update of a batch has lines.
 */

/** Stores the log lines the updates carry (their reports accepted), within the run's limits. */
export async function appendRunLogs(client: pg.PoolClient, updates: readonly RunStatusUpdate[], limits: RunLogLimits): Promise<void> {
  const logging = updates.filter((u) => u.logLines.length > 0);
  if (logging.length === 0) return;
  const runIds = [...new Set(logging.map((u) => u.runId.toLowerCase()))];
  const usage = new Map<string, { lines: number; chars: number }>();
  /** The last line stored of each attempt ("<run>/<attempt>"): a worker sends an attempt's lines in order, and again at its end. */
  const lastSeq = new Map<string, number>();
  const used = await client.query<{ run_id: string; attempt: number; lines: number; chars: number; last_seq: number }>(
    `SELECT run_id, attempt, count(*) FILTER (WHERE level <> ${RunLogLevel.DROPPED})::int AS lines,
            coalesce(sum(chars) FILTER (WHERE level <> ${RunLogLevel.DROPPED}), 0)::int AS chars, max(seq) AS last_seq
       FROM run_logs WHERE run_id = ANY($1::uuid[]) GROUP BY run_id, attempt`,
    [runIds],
  );
  for (const row of used.rows) {
    const total = usage.get(row.run_id) ?? { lines: 0, chars: 0 };
    usage.set(row.run_id, { lines: total.lines + row.lines, chars: total.chars + row.chars });
    lastSeq.set(`${row.run_id}/${row.attempt}`, row.last_seq);
  }
  const rows: { runId: string; line: RunLogLine }[] = [];
  for (const update of logging) {
    const runId = update.runId.toLowerCase();
    const before = usage.get(runId) ?? { lines: 0, chars: 0 };
    const key = `${runId}/${update.attempt}`;
    const stored = lastSeq.get(key) ?? 0;
    // The attempt's lines as the server numbers them: the update's attempt, whatever a line
    // says; those already stored (sent while the attempt ran) are left out, not counted twice.
    const lines = update.logLines.filter((line) => line.seq > stored).map((line) => ({ ...line, attempt: update.attempt }));
    if (lines.length === 0) continue;
    lastSeq.set(key, Math.max(stored, ...lines.map((line) => line.seq)));
    const kept = boundRunLogLines(lines, limits, before);
    for (const line of kept) {
      rows.push({ runId, line });
      if (line.level !== RunLogLevel.DROPPED) {
        before.lines++;
        before.chars += runLogLineChars(line);
      }
    }
    usage.set(runId, before);
  }
  if (rows.length === 0) return;
  await client.query(
    `INSERT INTO run_logs (run_id, attempt, seq, level, time, message, fields, chars)
     SELECT * FROM unnest($1::uuid[], $2::int[], $3::int[], $4::smallint[], $5::timestamptz[], $6::text[], $7::jsonb[], $8::int[])
     ON CONFLICT (run_id, attempt, seq) DO NOTHING`,
    [
      rows.map((r) => r.runId),
      rows.map((r) => r.line.attempt),
      rows.map((r) => r.line.seq),
      rows.map((r) => r.line.level),
      rows.map((r) => (r.line.time ? toDate(r.line.time) : new Date())),
      rows.map((r) => r.line.message),
      rows.map((r) => (r.line.fields ? JSON.stringify(r.line.fields) : null)),
      rows.map((r) => runLogLineChars(r.line)),
    ],
  );
}

/** Where a page of a run's lines left off. */
export interface RunLogKey {
  attempt: number;
  seq: number;
}

/** The key a GetRunLogs or WatchRunLogs token names; undefined for no token. */
export function runLogKeyOf(token: string, runId: string): RunLogKey | undefined {
  const key = decodePageToken(token, { runId });
  if (!key) return undefined;
  const [attempt, seq] = key;
  if (!Number.isInteger(attempt) || !Number.isInteger(seq)) throw invalidArgument("page_token: not a token this server issued");
  return { attempt: attempt as number, seq: seq as number };
}

/** The token of the place after `line`. */
export function runLogToken(runId: string, line: RunLogKey): string {
  return encodePageToken([line.attempt, line.seq], { runId });
}

interface RunLogRow {
  attempt: number;
  seq: number;
  level: number;
  time: Date;
  message: string;
  fields: JsonObject | null;
}

/** Up to `limit` lines of the run after `after`, by attempt and line number. */
export async function readRunLogs(pool: pg.Pool, runId: string, after: RunLogKey | undefined, limit: number): Promise<RunLogLine[]> {
  const { rows } = await pool.query<RunLogRow>(
    `SELECT attempt, seq, level, time, message, fields FROM run_logs
      WHERE run_id = $1 AND (attempt, seq) > ($2, $3)
      ORDER BY attempt, seq LIMIT $4`,
    [runId, after?.attempt ?? 0, after?.seq ?? 0, limit],
  );
  return rows.map((row) =>
    create(RunLogLineSchema, {
      attempt: row.attempt,
      seq: row.seq,
      level: row.level,
      time: toTimestamp(row.time),
      message: row.message,
      fields: row.fields ?? undefined,
    }),
  );
}
