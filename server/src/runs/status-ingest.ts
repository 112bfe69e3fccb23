import { fromBinary, type JsonObject } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { AckPolicy, DeliverPolicy, type JetStreamClient, type JsMsg } from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import {
  natsLayout,
  RunState,
  RunStateSchema,
  RunStatusBatchSchema,
  type NatsLayout,
  type RunAttemptJson,
  type RunStateJson,
  type RunStatusUpdate,
} from "@chime/sdk";
import type pg from "pg";
import { inTransaction } from "../db/pool.js";
import type { Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ACTIVE = new Set([RunState.QUEUED, RunState.RUNNING, RunState.RETRY_WAIT]);
const REPORTABLE = new Set([RunState.RUNNING, RunState.RETRY_WAIT, RunState.SUCCEEDED, RunState.FAILED, RunState.TIMED_OUT, RunState.CANCELLED]);
const MAX_ERROR_CHARS = 4096;

interface IngestRow {
  id: string;
  job_id: string;
  state: number;
  attempt: number;
  start_time: Date | null;
  end_time: Date | null;
  output: JsonObject | null;
  error: string;
  /**
   * Kept in the proto3 JSON form it is stored in, and edited as such: converting every
   * attempt to a message and back on each update was a large share of ingestion's CPU.
   */
  attempts: RunAttemptJson[];
}

interface WorkingRun {
  row: IngestRow;
  changed: boolean;
}

/** A run state's proto3 JSON name ("RUN_STATE_RUNNING"), as stored in attempts. */
const stateJson = (state: RunState) => RunStateSchema.value[state].name as RunStateJson;

interface NewEvent {
  runId: string;
  jobId: string;
  state: RunState;
  attempt: number;
  time: Date;
  error: string;
}

export type RejectReason = "stale_attempt" | "run_ended" | "unknown_run" | "invalid";

/**
 * Applies one status update to a run in memory, with attempt fencing. Returns the events
 * it produced, or the reason it was rejected.
 *
 * - RUNNING(a) starts attempt a: the run must be active and its stored attempt below a.
 * - RETRY_WAIT/SUCCEEDED/FAILED/TIMED_OUT/CANCELLED(a) end attempt a: the run must be
 *   RUNNING attempt a — or active with a stored attempt below a, when the worker left the
 *   RUNNING out (the attempt ended before it was sent) or the update overtook it (another
 *   ingest replica, a redelivered batch): the start is implied, at the update's start_time.
 * - Anything for an attempt below the stored one (a superseded, lost attempt) and anything
 *   after the run ended is rejected.
 */
export function applyUpdate(run: WorkingRun, update: RunStatusUpdate, now: Date): NewEvent[] | RejectReason {
  const row = run.row;
  const a = update.attempt;
  if (!ACTIVE.has(row.state)) return "run_ended";
  if (a < row.attempt) return "stale_attempt";
  const time = update.time ? timestampDate(update.time) : now;
  const events: NewEvent[] = [];
  const event = (state: RunState, error = "") =>
    events.push({ runId: row.id, jobId: row.job_id, state, attempt: a, time, error });

  const startAttempt = (at: Date) => {
    for (const entry of row.attempts) {
      if (!entry.endTime) {
        // Its worker stopped heartbeating and JetStream handed the run on.
        entry.state = stateJson(RunState.FAILED);
        entry.endTime = at.toISOString();
        entry.error = `lost: no heartbeat from worker ${entry.workerId || "?"}; superseded by attempt ${a}`;
      }
    }
    row.attempts.push({ attempt: a, state: stateJson(RunState.RUNNING), startTime: at.toISOString(), workerId: update.workerId });
    row.state = RunState.RUNNING;
    row.attempt = a;
    row.start_time ??= at;
    row.end_time = null;
    events.push({ runId: row.id, jobId: row.job_id, state: RunState.RUNNING, attempt: a, time: at, error: "" });
  };

  if (update.state === RunState.RUNNING) {
    if (a === row.attempt) return "stale_attempt";
    startAttempt(time);
  } else {
    if (a === row.attempt && row.state !== RunState.RUNNING) return "stale_attempt";
    // The start is implied: the worker left its RUNNING out (the attempt ended before it was
    // sent), or it was overtaken. The update carries the start, from a worker that sends it.
    if (a > row.attempt) startAttempt(update.startTime ? timestampDate(update.startTime) : time);
    const error = update.error.length > MAX_ERROR_CHARS ? `${update.error.slice(0, MAX_ERROR_CHARS)}…` : update.error;
    const entry = row.attempts.findLast((e) => e.attempt === a);
    const attemptState =
      update.state === RunState.RETRY_WAIT
        ? update.attemptState === RunState.TIMED_OUT
          ? RunState.TIMED_OUT
          : RunState.FAILED
        : update.state;
    if (entry) {
      entry.state = stateJson(attemptState);
      entry.endTime = time.toISOString();
      entry.error = error;
    }
    row.state = update.state;
    if (update.state === RunState.SUCCEEDED) row.output = (update.output as JsonObject | undefined) ?? null;
    else row.error = error;
    if (update.state !== RunState.RETRY_WAIT) row.end_time = time;
    event(update.state, error);
  }
  run.changed = true;
  return events;
}

interface Decoded {
  updates: RunStatusUpdate[];
  invalid: number;
}

function decode(messages: JsMsg[], logger: Logger): { good: JsMsg[]; decoded: Decoded } {
  const good: JsMsg[] = [];
  const updates: RunStatusUpdate[] = [];
  let invalid = 0;
  for (const msg of messages) {
    try {
      const batch = fromBinary(RunStatusBatchSchema, msg.data);
      good.push(msg);
      for (const u of batch.updates) {
        if (UUID.test(u.runId) && u.attempt >= 1 && REPORTABLE.has(u.state)) updates.push(u);
        else invalid++;
      }
    } catch (error) {
      logger.warn({ err: error, seq: msg.seq }, "cannot decode a RunStatusBatch; dropping it");
      msg.term(); // no reason: "+TERM reason" needs NATS 2.11
    }
  }
  return { good, decoded: { updates, invalid } };
}

/**
 * Applies a list of updates (in order) in one transaction: locks the runs concerned,
 * applies each update in memory with fencing, then writes the changed runs and their
 * events with one multi-row statement each.
 */
export async function ingestUpdates(
  pool: pg.Pool,
  updates: RunStatusUpdate[],
): Promise<{ accepted: RunStatusUpdate[]; rejected: Map<RejectReason, number> }> {
  const rejected = new Map<RejectReason, number>();
  const reject = (reason: RejectReason) => rejected.set(reason, (rejected.get(reason) ?? 0) + 1);
  const accepted: RunStatusUpdate[] = [];
  if (updates.length === 0) return { accepted, rejected };
  const ids = [...new Set(updates.map((u) => u.runId.toLowerCase()))];
  await inTransaction(pool, async (client) => {
    // Locked in id order, so two replicas ingesting overlapping batches cannot deadlock.
    const { rows } = await client.query<IngestRow>(
      `SELECT id, job_id, state, attempt, start_time, end_time, output, error, attempts
       FROM runs WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`,
      [ids],
    );
    const runs = new Map<string, WorkingRun>(rows.map((row) => [row.id, { row, changed: false }]));
    const now = new Date();
    const events: NewEvent[] = [];
    for (const update of updates) {
      const run = runs.get(update.runId.toLowerCase());
      if (!run) {
        reject("unknown_run");
        continue;
      }
      const result = applyUpdate(run, update, now);
      if (typeof result === "string") reject(result);
      else {
        events.push(...result);
        accepted.push(update);
      }
    }
    const changed = [...runs.values()].filter((r) => r.changed);
    if (changed.length === 0) return;
    // Each statement takes its rows as one JSON document: JSON.stringify is native, where
    // pg's escaping of one array parameter per column ran in JavaScript, value by value.
    await client.query(
      `UPDATE runs r SET state = v.state, attempt = v.attempt, start_time = v.start_time, end_time = v.end_time,
              output = v.output, error = v.error, attempts = v.attempts, update_time = now()
       FROM jsonb_to_recordset($1::jsonb)
         AS v(id uuid, state smallint, attempt int, start_time timestamptz, end_time timestamptz, output jsonb, error text, attempts jsonb)
       WHERE r.id = v.id`,
      [JSON.stringify(changed.map(({ row }) => row))],
    );
    await client.query(
      `INSERT INTO run_events (run_id, job_id, state, attempt, time, error)
       SELECT run_id, job_id, state, attempt, time, error
       FROM jsonb_to_recordset($1::jsonb) AS v(run_id uuid, job_id uuid, state smallint, attempt int, time timestamptz, error text)`,
      [JSON.stringify(events.map((e) => ({ run_id: e.runId, job_id: e.jobId, state: e.state, attempt: e.attempt, time: e.time, error: e.error })))],
    );
  });
  return { accepted, rejected };
}

export interface StatusIngestOptions {
  js: Promise<JetStreamClient | undefined>;
  pool: pg.Pool;
  layout: NatsLayout;
  prefix: string;
  metrics: Metrics;
  logger: Logger;
  /** Event messages (each a batch of updates) ingested per transaction at most. */
  batchMessages?: number;
}

/**
 * The api role's ingestion of worker status: a durable pull consumer on the events stream
 * shared by every api replica; each fetched group of messages is applied in one
 * transaction and acked after commit (naked for redelivery when the database fails).
 */
export function startStatusIngest(options: StatusIngestOptions) {
  const { logger, metrics } = options;
  const batchMessages = options.batchMessages ?? 200;
  let stopped = false;
  let messages: { stop(): void } | undefined;
  const buffer: JsMsg[] = [];
  let notify: (() => void) | undefined;

  async function ingest(batch: JsMsg[]): Promise<void> {
    const { good, decoded } = decode(batch, logger);
    if (decoded.invalid) metrics.statusRejected.inc({ reason: "invalid" }, decoded.invalid);
    try {
      const { accepted, rejected } = await ingestUpdates(options.pool, decoded.updates);
      for (const msg of good) msg.ack();
      for (const u of accepted) metrics.statusIngested.inc({ state: RunState[u.state] });
      for (const [reason, count] of rejected) metrics.statusRejected.inc({ reason }, count);
      if (rejected.size) logger.debug({ rejected: Object.fromEntries(rejected) }, "status updates rejected");
    } catch (error) {
      logger.warn({ err: error, messages: good.length }, "cannot ingest run status; will retry");
      for (const msg of good) msg.nak(1000);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  const pulling = (async () => {
    const js = await options.js;
    while (!stopped && js) {
      try {
        const jsm = await js.jetstreamManager();
        const name = natsLayout(options.prefix).ingestConsumer;
        await jsm.consumers.add(options.layout.eventsStream, {
          durable_name: name,
          filter_subject: options.layout.eventsSubjects,
          ack_policy: AckPolicy.Explicit,
          deliver_policy: DeliverPolicy.All,
          ack_wait: nanos(30_000),
          max_ack_pending: 5_000,
        });
        const consumer = await js.consumers.get(options.layout.eventsStream, name);
        const iterator = await consumer.consume({ max_messages: batchMessages });
        messages = iterator;
        if (stopped) iterator.stop();
        logger.info({ consumer: name }, "ingesting run status");
        for await (const msg of iterator) {
          buffer.push(msg);
          notify?.();
        }
      } catch (error) {
        if (stopped) break;
        logger.warn({ err: error }, "status ingestion consumer failed; restarting");
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  })();

  const applying = (async () => {
    while (!stopped || buffer.length > 0) {
      if (buffer.length === 0) {
        await new Promise<void>((resolve) => {
          notify = resolve;
          setTimeout(resolve, 500);
        });
        notify = undefined;
        continue;
      }
      await ingest(buffer.splice(0, batchMessages));
    }
  })();

  return {
    async stop(): Promise<void> {
      stopped = true;
      messages?.stop();
      notify?.();
      await pulling;
      await applying;
    },
  };
}

export type StatusIngest = ReturnType<typeof startStatusIngest>;
