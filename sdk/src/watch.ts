import { Code, ConnectError, createClient, type Client, type Transport } from "@connectrpc/connect";
import type { RunState } from "./gen/chime/v1/run_pb.js";
import {
  JobChangeKind,
  WatchService,
  type JobChange,
  type JobSnapshot,
  type Keepalive,
  type RunEvent,
  type ScheduleEvent,
} from "./gen/chime/v1/watch_service_pb.js";

/** Which run events a watch delivers; fields combine with AND, values of one field with OR. */
export interface WatchRunsFilter {
  jobIds?: string[];
  queues?: string[];
  states?: RunState[];
  /** Labels of the run's job, e.g. "env=prod,team,!legacy". */
  labelSelector?: string;
  namespace?: string;
}

export interface WatchOptions {
  /** Start after this token (an event's or keepalive's resume_token); default: live events only. */
  resumeToken?: string;
  /** Ends the iteration (it returns, it does not throw). */
  signal?: AbortSignal;
  /**
   * Server addresses to rotate over when a connection fails, e.g. every replica's gRPC
   * address. Defaults to the client's own baseUrl (or transport).
   */
  baseUrls?: string[];
  /** Called with each keepalive (its token is kept for reconnects either way). */
  onKeepalive?: (keepalive: Keepalive) => void;
  /** Called before each reconnect, with the error that ended the previous stream. */
  onReconnect?: (info: { error: unknown; attempt: number; baseUrl?: string; resumeToken: string }) => void;
  /** First reconnect delay; doubles (with jitter) up to maxRetryDelayMs. Default 100. */
  retryDelayMs?: number;
  maxRetryDelayMs?: number;
  /** A stream silent this long (no event, no keepalive) is presumed dead and reopened. Default 45000. */
  idleTimeoutMs?: number;
  /** Give up after this many reconnects in a row without receiving a message. Default: never. */
  maxReconnects?: number;
}

export type WatchJobMessage =
  | { kind: "snapshot"; snapshot: JobSnapshot }
  | { kind: "jobChange"; change: JobChange }
  | { kind: "runEvent"; event: RunEvent }
  /** Why the job did not run on time: a fire decision of the scheduler (skipped, missed, late, ...). */
  | { kind: "scheduleEvent"; event: ScheduleEvent };

/** Codes that a reconnect cannot fix: the request itself is wrong or refused. */
const FINAL_CODES = new Set([
  Code.InvalidArgument,
  Code.OutOfRange,
  Code.NotFound,
  Code.FailedPrecondition,
  Code.PermissionDenied,
  Code.Unauthenticated,
  Code.Unimplemented,
]);

export function isFinalWatchError(error: unknown): boolean {
  return error instanceof ConnectError && FINAL_CODES.has(error.code);
}

export interface WatchTargets {
  /** One transport per server address to rotate over. */
  transports: Array<{ transport: Transport; baseUrl?: string }>;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/**
 * Runs one server stream after another: each attempt opens a call with the latest resume
 * token; a transport failure or a resumable end (UNAVAILABLE, RESOURCE_EXHAUSTED, a clean
 * end) reopens it, moving on to the next address when the connection failed.
 */
async function* resilient<T>(
  targets: WatchTargets,
  options: WatchOptions,
  open: (client: Client<typeof WatchService>, signal: AbortSignal) => AsyncIterable<T>,
  onMessage: (message: T) => "yield" | "skip" | "end",
): AsyncGenerator<T> {
  const clients = targets.transports.map((t) => ({ client: createClient(WatchService, t.transport), baseUrl: t.baseUrl }));
  let index = 0;
  let failures = 0;
  const base = options.retryDelayMs ?? 100;
  const max = options.maxRetryDelayMs ?? 5000;
  const idleMs = options.idleTimeoutMs ?? 45_000;
  for (;;) {
    if (options.signal?.aborted) return;
    const call = new AbortController();
    const abortCall = () => call.abort();
    options.signal?.addEventListener("abort", abortCall, { once: true });
    let idle: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      clearTimeout(idle);
      idle = setTimeout(() => call.abort(new ConnectError(`no message for ${idleMs} ms`, Code.Unavailable)), idleMs);
    };
    let error: unknown = new ConnectError("the stream ended", Code.Unavailable);
    try {
      arm();
      for await (const message of open(clients[index].client, call.signal)) {
        arm();
        failures = 0;
        const verdict = onMessage(message);
        if (verdict === "yield") yield message;
        else if (verdict === "end") return;
      }
    } catch (caught) {
      error = caught;
    } finally {
      clearTimeout(idle);
      options.signal?.removeEventListener("abort", abortCall);
      call.abort();
    }
    if (options.signal?.aborted) return;
    if (isFinalWatchError(error)) throw error;
    failures++;
    if (options.maxReconnects !== undefined && failures > options.maxReconnects) throw error;
    const code = error instanceof ConnectError ? error.code : Code.Unknown;
    // A server that cut us off for reading slowly is fine to return to; anything else may
    // be a dead replica: try the next address.
    if (code !== Code.ResourceExhausted) index = (index + 1) % clients.length;
    options.onReconnect?.({ error, attempt: failures, baseUrl: clients[index].baseUrl, resumeToken: "" });
    const delay = code === Code.ResourceExhausted && failures === 1 ? 0 : Math.min(max, base * 2 ** (failures - 1));
    await sleep(delay / 2 + Math.random() * (delay / 2), options.signal);
  }
}

/**
 * Run events matching `filter`, forever: an async iterator that reconnects on its own with
 * the last resume token after a transport failure or a resumable end, so it yields every
 * matching event exactly once and in order. Break out of the loop (or abort
 * options.signal) to stop. Throws only on a final error (INVALID_ARGUMENT, OUT_OF_RANGE…).
 */
export async function* watchRuns(targets: WatchTargets, filter: WatchRunsFilter = {}, options: WatchOptions = {}): AsyncGenerator<RunEvent> {
  let token = options.resumeToken ?? "";
  const reportReconnect = options.onReconnect;
  const withToken: WatchOptions = {
    ...options,
    onReconnect: reportReconnect ? (info) => reportReconnect({ ...info, resumeToken: token }) : undefined,
  };
  const stream = resilient(
    targets,
    withToken,
    (client, signal) =>
      client.watchRuns(
        {
          jobIds: filter.jobIds ?? [],
          queues: filter.queues ?? [],
          states: filter.states ?? [],
          labelSelector: filter.labelSelector ?? "",
          namespace: filter.namespace ?? "",
          resumeToken: token,
        },
        { signal, timeoutMs: 0 },
      ),
    (message) => {
      if (message.kind.case === "event") {
        token = message.kind.value.resumeToken;
        return "yield";
      }
      if (message.kind.case === "keepalive") {
        if (message.kind.value.resumeToken) token = message.kind.value.resumeToken;
        options.onKeepalive?.(message.kind.value);
      }
      return "skip";
    },
  );
  for await (const message of stream) {
    if (message.kind.case === "event") yield message.kind.value;
  }
}

/**
 * One job: first a snapshot (the job and its active runs), then its changes, its runs'
 * events and its schedule events. A reconnect resumes after the last message received,
 * with no gap and no duplicate (and no second snapshot); one before any message after the
 * snapshot starts again with a fresh snapshot. With `options.resumeToken` it starts after
 * that token, without a snapshot. Ends after the job is deleted.
 */
export async function* watchJob(targets: WatchTargets, id: string, options: WatchOptions = {}): AsyncGenerator<WatchJobMessage> {
  let token = options.resumeToken ?? "";
  const reportReconnect = options.onReconnect;
  const withToken: WatchOptions = {
    ...options,
    onReconnect: reportReconnect ? (info) => reportReconnect({ ...info, resumeToken: token }) : undefined,
  };
  const stream = resilient(
    targets,
    withToken,
    (client, signal) => client.watchJob({ id, resumeToken: token }, { signal, timeoutMs: 0 }),
    (message) => {
      if (message.kind.case === "snapshot") return "yield";
      if (message.kind.value?.resumeToken) token = message.kind.value.resumeToken;
      if (message.kind.case === "keepalive") {
        options.onKeepalive?.(message.kind.value);
        return "skip";
      }
      return "yield";
    },
  );
  for await (const message of stream) {
    switch (message.kind.case) {
      case "snapshot":
        yield { kind: "snapshot", snapshot: message.kind.value };
        break;
      case "jobChange":
        yield { kind: "jobChange", change: message.kind.value };
        if (message.kind.value.kind === JobChangeKind.DELETED) return;
        break;
      case "runEvent":
        yield { kind: "runEvent", event: message.kind.value };
        break;
      case "scheduleEvent":
        yield { kind: "scheduleEvent", event: message.kind.value };
        break;
    }
  }
}
