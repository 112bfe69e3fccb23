import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import type { Job } from "@chime/sdk/gen/job_pb";
import type { Run } from "@chime/sdk/gen/run_pb";
import {
  JobChangeKind,
  RunEventSchema,
  WatchService,
  type RunEvent,
  type WatchJobResponse,
  type WatchRunsResponse,
} from "@chime/sdk/gen/watch_service_pb";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { WatchJobResponseSchema, WatchRunsResponseSchema } from "@chime/sdk/gen/watch_service_pb";
import type pg from "pg";
import { notFound, requireId } from "../api/errors.js";
import { JOB_COLUMNS, jobFromRow, type JobRow } from "../jobs/job-store.js";
import { activeRunsOfJob } from "../runs/run-store.js";
import { followRunLogs } from "../runs/run-log-follow.js";
import { runLogKeyOf } from "../runs/run-log-store.js";
import { scheduleEventMessage } from "../scheduler/schedule-events.js";
import { readEvents, readRunEvents, type WatchEvent } from "./event-source.js";
import { decodeResumeToken, encodeResumeToken } from "./resume-token.js";
import { matchesRunFilter, parseRunFilter, runFilterSql } from "./watch-filter.js";
import type { Subscriber, WatchHub } from "./watch-hub.js";

export interface WatchServiceDeps {
  pool: pg.Pool;
  hub: WatchHub;
  /** An idle stream gets a Keepalive this often. */
  keepaliveMs: number;
  /** Events a stream may have queued before it is cut off (for the error message). */
  bufferLimit: number;
  /** Aborted on server shutdown: streams end with UNAVAILABLE (resumable). */
  shutdownSignal: AbortSignal;
  /** Events read per replay query. */
  replayPageSize?: number;
}


type RunsOut = MessageInitShape<typeof WatchRunsResponseSchema> | WatchRunsResponse;
type JobOut = MessageInitShape<typeof WatchJobResponseSchema> | WatchJobResponse;

/** The RunEvent message of an event, built once however many streams send it. */
const messages = new WeakMap<WatchEvent, RunEvent>();
function runEventOf(event: WatchEvent): RunEvent {
  let message = messages.get(event);
  if (!message) {
    message = create(RunEventSchema, {
      runId: event.runId,
      jobId: event.jobId,
      state: event.state,
      attempt: event.attempt,
      time: timestampFromDate(event.time),
      error: event.error,
      resumeToken: encodeResumeToken(event.cursor),
      queue: event.queue,
      namespace: event.namespace,
      outputExcerpt: event.outputExcerpt,
    });
    messages.set(event, message);
  }
  return message;
}

export function createWatchService(deps: WatchServiceDeps): ServiceImpl<typeof WatchService> {
  const { pool, hub } = deps;
  const pageSize = deps.replayPageSize ?? 500;

  const shuttingDown = () =>
    new ConnectError("the server is shutting down; reconnect (to any replica) with the resume_token of the last message you received", Code.Unavailable);

  async function whenReady(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return;
    let onAbort!: () => void;
    const aborted = new Promise<void>((resolve) => {
      onAbort = resolve;
      signal.addEventListener("abort", onAbort, { once: true });
    });
    try {
      await Promise.race([hub.ready, aborted]);
      // An idle tail polls slowly: bring its position up to date before a stream starts from it.
      await Promise.race([hub.sync(), aborted]);
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }

  async function checkTokenRange(cursor: number): Promise<void> {
    const { rows } = await pool.query<{ pruned: number; last: number }>(
      `SELECT (SELECT pruned_through FROM event_retention)::bigint AS pruned,
              (CASE WHEN is_called THEN last_value ELSE last_value - 1 END)::bigint AS last
       FROM run_events_cursor_seq`,
    );
    const pruned = Number(rows[0].pruned ?? 0);
    const last = Number(rows[0].last);
    if (cursor < pruned) {
      throw new ConnectError(
        `resume_token: events after it were deleted (kept from cursor ${pruned + 1}); start without a token and re-read current state with ListRuns`,
        Code.OutOfRange,
      );
    }
    if (cursor > last) {
      throw new ConnectError("resume_token: newer than any event of this deployment (a token of another database?); start without a token", Code.OutOfRange);
    }
  }

  /**
   * The live part shared by both streams: queued events in order, a keepalive when idle,
   * and a resumable end on overflow, hub stop or shutdown. Returns when the client left.
   */
  async function* live<T>(
    sub: Subscriber,
    context: HandlerContext,
    send: (event: WatchEvent) => T | undefined | Promise<T | undefined>,
    keepalive: (token: string) => T,
    state: { sent: number },
  ): AsyncGenerator<T> {
    const signal = context.signal;
    let keepaliveAt = Date.now() + deps.keepaliveMs;
    for (;;) {
      if (signal.aborted) {
        if (deps.shutdownSignal.aborted) throw shuttingDown();
        // The client's deadline (grpc-timeout / connect-timeout-ms) passed: say so, rather
        // than end the stream as if it were complete.
        if (signal.reason instanceof ConnectError && signal.reason.code === Code.DeadlineExceeded) throw signal.reason;
        return;
      }
      if (hub.stopped) throw shuttingDown();
      if (sub.overflowed) {
        throw new ConnectError(
          `this stream fell more than ${deps.bufferLimit} events behind its reader and was ended; ` +
            `resume with the resume_token of the last message you received (this stream had sent every event up to ${encodeResumeToken(state.sent)})`,
          Code.ResourceExhausted,
        );
      }
      const event = sub.queue.shift();
      if (event) {
        const message = await send(event);
        state.sent = event.cursor;
        if (message !== undefined) {
          keepaliveAt = Date.now() + deps.keepaliveMs;
          yield message;
        }
        continue;
      }
      const wait = keepaliveAt - Date.now();
      if (wait > 0) {
        await sub.changed(signal, wait);
        continue;
      }
      // Idle, queue empty: every matching event up to the hub's position was sent.
      state.sent = Math.max(state.sent, hub.position);
      keepaliveAt = Date.now() + deps.keepaliveMs;
      yield keepalive(encodeResumeToken(state.sent));
    }
  }

  /**
   * Every matching event after `from`, read from Postgres (`read`, a page at a time), then
   * the hub's live ones: the seam has no gap (the hub queues only cursors above where it
   * joined) and no duplicate (the replay stops there).
   */
  async function* replayThenLive<T>(
    from: number,
    read: (after: number, upTo: number) => Promise<WatchEvent[]>,
    subscribe: (after: number) => Subscriber,
    send: (event: WatchEvent) => T | undefined | Promise<T | undefined>,
    keepalive: (token: string) => T,
    context: HandlerContext,
  ): AsyncGenerator<T> {
    const state = { sent: from };
    const replay = async function* (upTo: number) {
      while (state.sent < upTo && !context.signal.aborted) {
        const page = await read(state.sent, upTo);
        for (const event of page) {
          const message = await send(event);
          if (message !== undefined) yield message;
        }
        state.sent = page.length === pageSize ? page[page.length - 1].cursor : upTo;
      }
    };
    // Far behind: catch up from Postgres first, without holding a live queue meanwhile.
    while (hub.position - state.sent > pageSize && !context.signal.aborted) yield* replay(hub.position);
    const sub = subscribe(state.sent);
    try {
      yield* replay(sub.joinedAt);
      yield* live<T>(sub, context, send, keepalive, state);
    } finally {
      hub.unsubscribe(sub);
    }
  }

  /** A job's events as WatchJob messages; `deleted` turns true once its deletion is sent. */
  function jobMessages(id: string, skip: Set<number>) {
    const out = {
      deleted: false,
      async send(event: WatchEvent): Promise<JobOut | undefined> {
        if (skip.has(event.cursor)) return undefined;
        if (event.change === 0) return { kind: { case: "runEvent", value: runEventOf(event) } };
        if (event.schedule) {
          const record = { jobId: event.jobId, ...event.schedule };
          return { kind: { case: "scheduleEvent", value: scheduleEventMessage(record, event.time, event.cursor) } };
        }
        const job = await readJob(pool, id);
        if (event.change === JobChangeKind.DELETED) out.deleted = true;
        return {
          kind: {
            case: "jobChange",
            value: { kind: event.change, job, time: timestampFromDate(event.time), resumeToken: encodeResumeToken(event.cursor) },
          },
        };
      },
      keepalive: (token: string): JobOut => ({ kind: { case: "keepalive", value: { time: timestampFromDate(new Date()), resumeToken: token } } }),
    };
    return out;
  }

  return {
    async *watchRuns(request, context) {
      const filter = parseRunFilter(request);
      const resumeFrom = request.resumeToken ? decodeResumeToken(request.resumeToken) : undefined;
      await whenReady(context.signal);
      if (context.signal.aborted) return;
      if (resumeFrom !== undefined) await checkTokenRange(resumeFrom);
      const sql = runFilterSql(filter, 4);
      yield* replayThenLive<RunsOut>(
        resumeFrom ?? hub.position,
        (after, upTo) => readRunEvents(pool, after, upTo, pageSize, sql.conditions, sql.params),
        (after) =>
          hub.subscribe({
            jobIds: filter.jobIds,
            queues: filter.jobIds ? undefined : filter.queues,
            matches: (event) => matchesRunFilter(filter, event),
            after,
          }),
        (event) => ({ kind: { case: "event", value: runEventOf(event) } }),
        (token) => ({ kind: { case: "keepalive", value: { time: timestampFromDate(new Date()), resumeToken: token } } }),
        context,
      );
    },

    async *watchRunLogs(request, context) {
      const runId = requireId("run_id", request.runId);
      yield* followRunLogs(pool, runId, runLogKeyOf(request.pageToken, runId), AbortSignal.any([context.signal, deps.shutdownSignal]));
      if (deps.shutdownSignal.aborted && !context.signal.aborted) throw shuttingDown();
    },

    async *watchJob(request, context) {
      const id = requireId("id", request.id);
      const resumeFrom = request.resumeToken ? decodeResumeToken(request.resumeToken) : undefined;
      await whenReady(context.signal);
      if (context.signal.aborted) return;
      const subscribe = (after?: number) => hub.subscribe({ jobIds: [id], jobChanges: true, matches: (event) => event.jobId === id, after });
      if (resumeFrom !== undefined) {
        await checkTokenRange(resumeFrom);
        if (!(await watchableAfter(pool, id, resumeFrom))) throw notFound("job", id);
        const messages = jobMessages(id, new Set());
        const read = (after: number, upTo: number) => readEvents(pool, after, upTo, pageSize, id);
        for await (const message of replayThenLive<JobOut>(resumeFrom, read, subscribe, messages.send, messages.keepalive, context)) {
          yield message;
          if (messages.deleted) return;
        }
        return;
      }
      const sub = subscribe();
      try {
        const snapshot = await readJobSnapshot(pool, id, sub.joinedAt);
        if (!snapshot) throw notFound("job", id);
        yield { kind: { case: "snapshot", value: { job: snapshot.job, activeRuns: snapshot.runs } } } as JobOut;
        // The events the snapshot already reflects are not sent again.
        const messages = jobMessages(id, snapshot.seen);
        for await (const message of live<JobOut>(sub, context, messages.send, messages.keepalive, { sent: sub.joinedAt })) {
          yield message;
          if (messages.deleted) return;
        }
      } finally {
        hub.unsubscribe(sub);
      }
    },
  };
}

/**
 * Whether a WatchJob resumed after `cursor` has something to follow: the job exists, or
 * it was deleted after the cursor (the replay then sends the deletion and ends).
 */
async function watchableAfter(pool: pg.Pool, id: string, cursor: number): Promise<boolean> {
  const { rows } = await pool.query<{ deleted: boolean | null; deleted_after: boolean }>(
    `SELECT (SELECT deleted_time IS NOT NULL FROM jobs WHERE id = $1) AS deleted,
            EXISTS (SELECT 1 FROM job_event_log WHERE job_id = $1 AND kind = $3 AND cursor > $2) AS deleted_after`,
    [id, cursor, JobChangeKind.DELETED],
  );
  const { deleted, deleted_after } = rows[0];
  return deleted === false || (deleted === true && deleted_after);
}

async function readJob(pool: pg.Pool, id: string): Promise<Job | undefined> {
  const { rows } = await pool.query<JobRow>(`SELECT ${JOB_COLUMNS} FROM jobs WHERE id = $1`, [id]);
  return rows[0] ? jobFromRow(rows[0]) : undefined;
}

/**
 * The job and its active runs in one snapshot, plus the cursors of its events that the
 * snapshot already reflects beyond `after` (the hub will offer those again: skip them).
 */
async function readJobSnapshot(pool: pg.Pool, id: string, after: number): Promise<{ job: Job; runs: Run[]; seen: Set<number> } | undefined> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    const jobs = await client.query<JobRow>(`SELECT ${JOB_COLUMNS} FROM jobs WHERE id = $1 AND deleted_time IS NULL`, [id]);
    if (!jobs.rows[0]) {
      await client.query("COMMIT");
      return undefined;
    }
    const runs = await activeRunsOfJob(client, id);
    const seen = await client.query<{ cursor: number }>(
      `SELECT cursor FROM run_event_log WHERE job_id = $1 AND cursor > $2
       UNION ALL SELECT cursor FROM job_event_log WHERE job_id = $1 AND cursor > $2
       UNION ALL SELECT cursor FROM schedule_events WHERE job_id = $1 AND cursor > $2`,
      [id, after],
    );
    await client.query("COMMIT");
    return { job: jobFromRow(jobs.rows[0]), runs, seen: new Set(seen.rows.map((r) => Number(r.cursor))) };
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
