import type { JsonObject } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  JetStreamApiError,
  type Consumer,
  type ConsumerConfig,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from "@nats-io/jetstream";
import { Kvm, KvWatchInclude, type KV, type KvWatchEntry } from "@nats-io/kv";
import { connect, nanos, type NatsConnection, type NodeConnectionOptions, type QueuedIterator } from "@nats-io/transport-node";
import { hostname } from "node:os";
import { performance } from "node:perf_hooks";
import type { HttpRequest } from "../gen/chime/v1/job_pb.js";
import { RunState, type RunLogLine } from "../gen/chime/v1/run_pb.js";
import type { RunAssignment, RunStatusUpdate } from "../gen/chime/v1/worker_pb.js";
import { natsLayout, type NatsLayout } from "../nats-layout.js";
import { DEFAULT_RUN_LOG_LIMITS, type RunLogLimits } from "../run-log-bounds.js";
import { decodeRunAssignment } from "../wire/run-assignment.js";
import { backoffOf, retryDelayMs, type Backoff } from "./backoff.js";
import { ACK, AckConfirmer, ackSubjectOf, nakPayload } from "./confirmed-ack.js";
import { EndedRuns } from "./ended-runs.js";
import { Handbacks } from "./handbacks.js";
import { AttemptTimeoutError, DeliverySupersededError, isRetryable, RunCancelledError, WorkerStoppingError } from "./errors.js";
import { Heartbeats } from "./heartbeats.js";
import { LazyAbort } from "./lazy-abort.js";
import { RunContext } from "./run-context.js";
import type { RunLog } from "./run-log.js";
import { StallWatch } from "./stall-watch.js";
import { createStatusPublisher, type StatusPublisher } from "./status-publisher.js";

/** One attempt of a run, as a handler sees it. */
export interface WorkerRun {
  runId: string;
  jobId: string;
  jobName: string;
  namespace: string;
  queue: string;
  /** 1 for the first attempt; the JetStream delivery count of the run's message. */
  attempt: number;
  /** Attempts the job's retry policy allows in all. */
  maxAttempts: number;
  scheduledTime: Date;
  payload: JsonObject;
  labels: Record<string, string>;
  /** The request of a job on the "http" queue. */
  http?: HttpRequest;
}

/** pino-compatible subset. */
export interface WorkerLogger {
  debug(fields: object, message?: string): void;
  info(fields: object, message?: string): void;
  warn(fields: object, message?: string): void;
  error(fields: object, message?: string): void;
}

export interface WorkerContext {
  /** Aborts when the run is cancelled, the attempt times out, or the worker stops; `signal.reason` says which. */
  signal: AbortSignal;
  /** Tells JetStream the attempt is alive (the worker also does this on its own while the handler runs). */
  heartbeat(): void;
  logger: WorkerLogger;
  /**
   * Lines logged here are stored with the run (per attempt) and read with GetRunLogs or
   * followed with WatchRunLogs while the handler runs: sent within `logFlushMs` of being
   * logged, and again with the update that ends the attempt. Bounded by `runLogLimits`.
   */
  log: RunLog;
}

/**
 * Runs one attempt. Return a small JSON object (kept as the run's output) or nothing;
 * throw to fail the attempt (an error with `retryable: false` is not retried).
 */
export type WorkerHandler = (run: WorkerRun, context: WorkerContext) => Promise<JsonObject | void> | JsonObject | void;

export interface WorkerOptions {
  /** NATS server(s) to connect to; or pass a `connection` the caller owns. */
  natsUrl?: string | string[];
  /**
   * More options for the connection the Worker opens to natsUrl: `tls` ({ ca, cert, key }
   * or file names, for NATS over TLS), `user`/`pass`, `token`, or an `authenticator` (NATS
   * credentials files: credsAuthenticator).
   */
  natsOptions?: Omit<NodeConnectionOptions, "servers">;
  connection?: NatsConnection;
  /** Namespace of every NATS name; the server's CHIME_NATS_PREFIX. */
  prefix?: string;
  queue: string;
  /**
   * Serve only this namespace's runs of the queue (its own durable consumer, filtered on
   * `<prefix>.runs.<namespace>.<queue>`, reporting on `<prefix>.events.<namespace>.<queue>`),
   * so that NATS permissions can keep the worker to its namespace (docs/deployment.md).
   * Unset: the queue's runs of every namespace, through one consumer per queue. A JetStream
   * work queue refuses overlapping consumers, so workers with and without a namespace cannot
   * serve the same queue: start() fails naming the conflict.
   */
  namespace?: string;
  /**
   * Handlers running at once (default 32). A slot is held only while its handler runs: the
   * report (status stored, then ack) goes on in the background, so short handlers reach
   * thousands of runs per second with the default; raise it for handlers that mostly wait.
   */
  concurrency?: number;
  /**
   * Runs requested beyond the free slots, so a slot that frees up finds its next run already
   * here instead of waiting a round trip (default: concurrency, at most 256). They are
   * heartbeaten while they wait, like running ones.
   */
  prefetch?: number;
  /**
   * Runs whose handler ended but whose report (status publish, then ack) is not done, at most;
   * pulling pauses at this bound, so a slow status path cannot grow memory without bound.
   */
  maxReporting?: number;
  handler: WorkerHandler;
  /** How long JetStream waits for a heartbeat before it hands the run to another worker. */
  ackWaitMs?: number;
  logger?: WorkerLogger;
  /** Names this worker in the run's attempt history. */
  workerId?: string;
  /** How long stop() lets running handlers finish before handing their runs back. */
  stopGraceMs?: number;
  /**
   * The longest stop() takes, whatever NATS does (default: the grace plus 5 s): past it the
   * connection is closed without waiting for reports, and their runs are redelivered.
   */
  stopDeadlineMs?: number;
  /** Deliveries of one run message at most (bounds attempts, including lost ones). */
  maxDeliver?: number;
  /** Longest a status update waits to share a batch. */
  statusFlushMs?: number;
  /** Status updates per batch at most. */
  statusBatchSize?: number;
  /** After an abort, how long a handler that ignores its signal keeps its concurrency slot. */
  abortGraceMs?: number;
  /** Largest accepted handler result, as JSON bytes. */
  maxOutputBytes?: number;
  /** Bounds of one attempt's `ctx.log` lines (the server bounds the run's lines again). */
  runLogLimits?: RunLogLimits;
  /** How soon a `ctx.log` line is sent while the handler still runs (default 1000 ms; the lines of that span go together). */
  logFlushMs?: number;
}

interface Held {
  runId: string;
  msg: JsMsg;
  abort: LazyAbort;
}

/** What a handler's attempt needs to be reported once it ended. */
interface Attempt {
  msg: JsMsg;
  assignment: RunAssignment;
  attempt: number;
  backoff: Backoff;
  started: Timestamp;
  /** The handler's context, for the lines it logged. */
  context: RunContext;
}

type Outcome =
  | { kind: "returned"; output: JsonObject | undefined }
  | { kind: "threw"; error: unknown }
  | { kind: "aborted"; reason: unknown };

const MAX_ERROR_CHARS = 4096;
/** What a queue or namespace name may be (the server's job validation allows the same). */
const NAME = /^[A-Za-z0-9_-]{1,64}$/;

const consoleLogger: WorkerLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: (fields, message) => console.warn(JSON.stringify({ level: "warn", msg: message, ...fields })),
  error: (fields, message) => console.error(JSON.stringify({ level: "error", msg: message, ...fields })),
};

/** JetStream's "filtered consumer not unique on workqueue stream". */
const isOverlap = (error: unknown) => error instanceof JetStreamApiError && error.code === 10100;

/** The fields of a RunStatusUpdate that depend on how the attempt went. */
type UpdateFields = Pick<Partial<RunStatusUpdate>, "error" | "output" | "retryTime" | "attemptState" | "startTime" | "logLines">;
/** The log lines of an update whose handler logged nothing: shared, never written to. */
const NO_LOG_LINES: RunLogLine[] = [];

/**
 * Runs a handler for each run of a queue: pulls RunAssignments from the queue's durable
 * consumer (at-least-once; the attempt number is the delivery count), reports status in
 * batches, retries with backoff by naking the message, and aborts a handler whose run is
 * cancelled or whose attempt times out.
 *
 * A handler slot is held only while the handler runs. The report (status stored in
 * JetStream, then ack or nak, in that order) goes on in the background, for at most
 * `maxReporting` runs; every message held — waiting in the prefetch, running, or being
 * reported — is heartbeaten until it is acked, and `stop()` waits for the reports.
 *
 * Defaults: `concurrency` 32 and `prefetch` = concurrency (at most 256) drain thousands of
 * short runs a second per process (no-op handlers on a 2-core machine: 11,400–12,800/s, about
 * 60 µs of worker CPU a run) while an I/O-bound handler gets at most 32 calls at once. They
 * are the throughput setting for short handlers too (100 or 1,000 do not drain faster and
 * cost as much or more CPU a run): run a process per core; raise `concurrency` only for
 * handlers that mostly wait.
 */
export class Worker {
  readonly workerId: string;
  private readonly options: Required<Omit<WorkerOptions, "natsUrl" | "natsOptions" | "connection" | "logger" | "workerId" | "namespace">>;
  /** The namespace served; undefined: every namespace. */
  private readonly namespace: string | undefined;
  private readonly logger: WorkerLogger;
  private readonly layout: NatsLayout;
  private nc?: NatsConnection;
  private ownsConnection = false;
  private js?: JetStreamClient;
  private kv?: KV;
  private handbacks?: Handbacks;
  private consumer?: Consumer;
  private status?: StatusPublisher;
  /** Acks and naks, each tried until JetStream confirms it. */
  private acks?: AckConfirmer;
  private watcher?: QueuedIterator<KvWatchEntry>;
  private readonly held = new Map<string, Held>();
  /** Run ids in the cancel bucket (value: when they were put), kept from a watch instead of a lookup per run. */
  private readonly cancelled = new Map<string, number>();
  private cancelTtlMs = 0;
  private pruneTimer?: NodeJS.Timeout;
  private readonly fetches = new Set<ConsumerMessages>();
  /** Every delivered message until it is acked, naked or terminated. */
  private readonly heartbeats: Heartbeats<JsMsg>;
  private readonly stalls: StallWatch;
  /** Runs this worker ended, so that a redelivery of one is acked, not run again. */
  private readonly endedRuns: EndedRuns;
  /** Runs whose ending status is being stored, with the publish (a second delivery waits for it). */
  private readonly storing = new Map<string, Promise<void>>();
  /** Delivered runs waiting for a free slot, oldest first. */
  private readonly buffered: JsMsg[] = [];
  /** One per run from its slot's start to its report's end. */
  private readonly tasks = new Set<Promise<void>>();
  /** Handler slots in use. */
  private active = 0;
  /** Runs whose slot is released and whose report is not done. */
  private reporting = 0;
  private requested = 0;
  private waiters: Array<() => void> = [];
  private idleWaiters: Array<() => void> = [];
  private started?: Promise<void>;
  private stopping?: Promise<void>;
  private pulling?: Promise<void>;
  /** Set when stop()'s grace has ended: nothing more is started. */
  private graceOver = false;

  constructor(private readonly init: WorkerOptions) {
    if (!init.natsUrl && !init.connection) throw new Error("Worker: natsUrl or connection is required");
    // Queue and namespace are subject tokens: these characters keep them single, wildcard-free ones.
    if (!NAME.test(init.queue ?? "")) throw new Error(`Worker: queue ${JSON.stringify(init.queue)} is not a valid queue name (1-64 letters, digits, _ or -)`);
    if (init.namespace !== undefined && !NAME.test(init.namespace)) {
      throw new Error(`Worker: namespace ${JSON.stringify(init.namespace)} is not a valid namespace (1-64 letters, digits, _ or -)`);
    }
    this.namespace = init.namespace;
    if (typeof init.handler !== "function") throw new Error("Worker: handler is required");
    const concurrency = Math.max(1, Math.floor(init.concurrency ?? 32));
    this.options = {
      prefix: init.prefix ?? "chime",
      queue: init.queue,
      concurrency,
      prefetch: Math.max(0, Math.floor(init.prefetch ?? Math.min(concurrency, 256))),
      maxReporting: Math.max(1, Math.floor(init.maxReporting ?? 4096)),
      handler: init.handler,
      ackWaitMs: Math.max(1000, init.ackWaitMs ?? 30_000),
      stopGraceMs: init.stopGraceMs ?? 10_000,
      stopDeadlineMs: init.stopDeadlineMs ?? (init.stopGraceMs ?? 10_000) + 5000,
      maxDeliver: init.maxDeliver ?? 100,
      statusFlushMs: init.statusFlushMs ?? 5,
      statusBatchSize: init.statusBatchSize ?? 200,
      abortGraceMs: init.abortGraceMs ?? 5_000,
      maxOutputBytes: init.maxOutputBytes ?? 64 * 1024,
      runLogLimits: init.runLogLimits ?? DEFAULT_RUN_LOG_LIMITS,
      logFlushMs: Math.max(10, init.logFlushMs ?? 1000),
    };
    this.logger = init.logger ?? consoleLogger;
    this.workerId = init.workerId ?? `${hostname()}-${process.pid}-${Math.random().toString(36).slice(2, 6)}`;
    this.layout = natsLayout(this.options.prefix);
    // A delivery not beaten for most of the ack wait may be past its deadline (JetStream's
    // clock and ours differ by the beat's transit); the margin is a fifth of the ack wait.
    const staleAfterMs = this.options.ackWaitMs - Math.max(200, Math.floor(this.options.ackWaitMs / 5));
    this.heartbeats = new Heartbeats(
      Math.max(200, Math.floor(this.options.ackWaitMs / 3)),
      () => performance.now(),
      staleAfterMs,
      (msg) => this.dropSuperseded(msg),
    );
    // A redelivery of an ended run comes after an ack lost with a consumer leader, within
    // about an ack wait or two; 100,000 ids are a few MB.
    this.endedRuns = new EndedRuns(3 * this.options.ackWaitMs, 100_000);
    this.stalls = new StallWatch(Math.max(250, Math.floor(staleAfterMs / 4)));
  }

  /** Connects, makes sure the queue's consumer exists, and starts pulling runs. */
  start(): Promise<void> {
    this.started ??= this.doStart();
    return this.started;
  }

  private async doStart(): Promise<void> {
    if (this.init.connection) this.nc = this.init.connection;
    else {
      // noAsyncTraces: no Error (stack capture) per request on the hot path.
      this.nc = await connect({ ...this.init.natsOptions, servers: this.init.natsUrl!, name: `chime-worker-${this.workerId}`, maxReconnectAttempts: -1, noAsyncTraces: true });
      this.ownsConnection = true;
    }
    this.acks = new AckConfirmer(this.nc, this.ackTiming());
    const jsm = await jetstreamManager(this.nc);
    this.js = jetstream(this.nc);
    await this.ensureConsumer(jsm);
    this.consumer = await this.js.consumers.get(this.layout.runsStream, this.layout.queueConsumer(this.namespace, this.options.queue));
    this.kv = await new Kvm(this.js).open(this.layout.cancelBucket);
    // The watch starts before the listing, so a cancellation put in between is seen by one of them.
    this.watcher = await this.kv.watch({ include: KvWatchInclude.UpdatesOnly, ignoreDeletes: true });
    void this.watchCancels(this.watcher);
    for await (const runId of await this.kv.keys()) if (!this.cancelled.has(runId)) this.cancelled.set(runId, Date.now());
    this.cancelTtlMs = (await this.kv.status()).ttl;
    this.handbacks = await Handbacks.open(this.js, this.layout.handbackBucket, this.namespace, (error) =>
      this.logger.warn({ err: String(error) }, "no hand-back bucket (a server older than this worker): a run handed back at a stop will have spent an attempt"),
    );
    if (this.cancelTtlMs > 0) {
      this.pruneTimer = setInterval(() => this.pruneCancelled(), Math.min(this.cancelTtlMs, 600_000));
      this.pruneTimer.unref();
    }
    this.status = createStatusPublisher({
      js: this.js,
      subject: this.layout.eventSubject(this.namespace, this.options.queue),
      flushMs: this.options.statusFlushMs,
      maxBatch: this.options.statusBatchSize,
    });
    this.pulling = this.pullLoop();
    this.logger.info({ queue: this.options.queue, namespace: this.namespace, workerId: this.workerId, concurrency: this.options.concurrency }, "worker started");
  }

  private async ensureConsumer(jsm: JetStreamManager): Promise<void> {
    const name = this.layout.queueConsumer(this.namespace, this.options.queue);
    const config: Partial<ConsumerConfig> = {
      durable_name: name,
      filter_subject: this.layout.queueFilter(this.namespace, this.options.queue),
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(this.options.ackWaitMs),
      max_deliver: this.options.maxDeliver,
      // Runs waiting for a retry (naked with a delay) count as pending: leave room for many.
      max_ack_pending: 20_000,
    };
    try {
      await jsm.streams.info(this.layout.runsStream);
    } catch (error) {
      throw new Error(`stream ${this.layout.runsStream} not found: is the Chime server (prefix ${this.options.prefix}) started? ${(error as Error).message}`, { cause: error });
    }
    try {
      const existing = await jsm.consumers.info(this.layout.runsStream, name);
      const c = existing.config;
      // A consumer of every namespace made before subjects carried the namespace filters on
      // `<prefix>.runs.<queue>`: it moves to the new subjects (the leader moves the runs left there).
      if (c.filter_subject !== config.filter_subject || c.ack_wait !== config.ack_wait || c.max_deliver !== config.max_deliver || c.max_ack_pending !== config.max_ack_pending) {
        await jsm.consumers.update(this.layout.runsStream, name, {
          filter_subject: config.filter_subject,
          ack_wait: config.ack_wait,
          max_deliver: config.max_deliver,
          max_ack_pending: config.max_ack_pending,
        });
      }
    } catch (error) {
      if (isOverlap(error)) throw await this.overlapError(jsm, config.filter_subject!, error);
      if (!/not found/i.test((error as Error).message)) throw error;
      // Several workers may race to create it; the same configuration is accepted twice.
      try {
        await jsm.consumers.add(this.layout.runsStream, config);
      } catch (addError) {
        throw isOverlap(addError) ? await this.overlapError(jsm, config.filter_subject!, addError) : addError;
      }
    }
  }

  /** The work queue refused our consumer: name the consumers of the queue already there, where the listing is allowed. */
  private async overlapError(jsm: JetStreamManager, filter: string, cause: unknown): Promise<Error> {
    const others: string[] = [];
    try {
      for await (const info of jsm.consumers.list(this.layout.runsStream)) {
        const taken = this.layout.parseQueueFilter(info.config.filter_subject);
        if (taken?.queue === this.options.queue && !taken.legacy) others.push(`${info.name} (${info.config.filter_subject})`);
      }
    } catch {
      // A worker kept to its namespace may not list the stream's consumers: the message says less.
    }
    const mine = this.namespace === undefined ? "of every namespace" : `of namespace ${JSON.stringify(this.namespace)}`;
    return new Error(
      `Worker: cannot consume queue ${JSON.stringify(this.options.queue)} ${mine} (filter ${filter}): another consumer of ${this.layout.runsStream} ` +
        `takes an overlapping subject${others.length ? `: ${others.join(", ")}` : ""}. A JetStream work queue refuses overlapping consumers, so workers ` +
        "with a namespace and workers without one (every namespace) cannot serve the same queue; delete the other consumer once its workers are gone.",
      { cause },
    );
  }

  private async watchCancels(watcher: QueuedIterator<KvWatchEntry>): Promise<void> {
    try {
      for await (const entry of watcher) {
        if (entry.operation !== "PUT") continue;
        this.cancelled.set(entry.key, entry.created.getTime());
        const held = this.held.get(entry.key);
        if (held && !held.abort.aborted) {
          this.logger.info({ runId: entry.key }, "run cancelled; aborting its handler");
          held.abort.abort(new RunCancelledError(entry.key));
        }
      }
    } catch (error) {
      if (!this.stopping) this.logger.error({ err: String(error) }, "cancel watch ended");
    }
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private waitForChange(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /**
   * Keeps pull requests open for the free slots plus `prefetch`, so a slot that frees up
   * finds its next run here; pauses while `maxReporting` runs wait for their report.
   */
  private async pullLoop(): Promise<void> {
    const { concurrency, prefetch, maxReporting } = this.options;
    const target = concurrency + prefetch;
    const minPull = Math.max(1, Math.floor(target / 4));
    while (!this.stopping) {
      const free = this.reporting >= maxReporting ? 0 : target - this.active - this.buffered.length - this.requested;
      if (free <= 0 || (free < minPull && this.requested > 0)) {
        await this.waitForChange(1000);
        continue;
      }
      let messages: ConsumerMessages;
      // JetStream delivers in answer to this request, so not before now: the earliest a
      // delivery's ack deadline can run from.
      const askedAt = performance.now();
      try {
        messages = await this.consumer!.fetch({ max_messages: free, expires: 5000 });
      } catch (error) {
        this.logger.warn({ err: String(error) }, "cannot pull runs; retrying");
        await this.waitForChange(1000);
        continue;
      }
      this.requested += free;
      this.fetches.add(messages);
      void this.drainFetch(messages, free, askedAt);
    }
  }

  private async drainFetch(messages: ConsumerMessages, asked: number, askedAt: number): Promise<void> {
    let got = 0;
    try {
      for await (const msg of messages) {
        got++;
        this.requested--;
        if (this.graceOver) {
          void this.handBack(msg); // arrived after the stop's grace: hand it back at once
          continue;
        }
        // Read just after a stall, a message may have waited in the socket since the request.
        this.heartbeats.add(msg, this.stalls.stalledSince(askedAt) ? askedAt : performance.now());
        this.buffered.push(msg);
        this.dispatch();
      }
    } catch (error) {
      if (!this.stopping) this.logger.warn({ err: String(error) }, "pull ended with an error");
    } finally {
      this.requested -= asked - got;
      this.fetches.delete(messages);
      this.wake();
    }
  }

  /** Starts buffered runs in the free slots. */
  private dispatch(): void {
    while (!this.graceOver && this.active < this.options.concurrency && this.buffered.length > 0) {
      const msg = this.buffered.shift()!;
      if (!this.heartbeats.isLive(msg)) {
        this.dropSuperseded(msg);
        continue;
      }
      this.active++;
      // A run counts as reporting from its slot's release to its report's end; after an
      // abort the report may end first, while the handler still keeps its slot.
      let released = false;
      let reported = false;
      const release = () => {
        if (released) return;
        released = true;
        this.active--;
        if (!reported) this.reporting++;
        // Buffered runs first: "no handlers" (stop()'s grace) means none waiting either.
        this.dispatch();
        if (this.active === 0) this.wakeIdle();
        this.wake();
      };
      const task = this.process(msg, release).finally(() => {
        reported = true;
        this.heartbeats.delete(msg);
        this.tasks.delete(task);
        if (released) {
          this.reporting--;
          if (this.reporting === this.options.maxReporting - 1) this.wake();
        }
      });
      this.tasks.add(task);
    }
  }

  /** Resolves when no handler runs and none waits for a slot, or after `ms`. */
  private whenNoHandlers(ms: number): Promise<void> {
    if (this.active === 0 && this.buffered.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private wakeIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private update(
    msg: JsMsg,
    assignment: RunAssignment,
    attempt: number,
    state: RunState,
    fields: UpdateFields = {},
  ): RunStatusUpdate {
    // A literal of the generated type rather than create(): no descriptor walk per update.
    return {
      $typeName: "chime.v1.RunStatusUpdate",
      runId: assignment.runId,
      jobId: assignment.jobId,
      attempt,
      state,
      time: timestampNow(),
      error: "",
      workerId: this.workerId,
      attemptState: RunState.UNSPECIFIED,
      logLines: NO_LOG_LINES,
      // When JetStream stored the run's message: the server records it as the run's dispatch
      // time if the leader has not yet (it records dispatches late, for runs nobody took).
      dispatchTime: timestampOfNanos(msg.timestampNanos),
      ...fields,
    };
  }

  /**
   * Handles one delivered run. Calls `release` once its handler slot is free — as soon as the
   * handler settled (or, after an abort, once it settled or its abortGraceMs passed), or at
   * once for a run reported without a handler — and resolves once the run is reported and
   * its message acked, naked or terminated.
   */
  private async process(msg: JsMsg, release: () => void): Promise<void> {
    let assignment: RunAssignment;
    try {
      assignment = decodeRunAssignment(msg.data);
      if (!assignment.runId) throw new Error("run_id is empty");
    } catch (error) {
      release();
      this.logger.error({ err: String(error), seq: msg.seq }, "cannot decode a RunAssignment; terminating the message");
      msg.term(); // no reason: "+TERM reason" needs NATS 2.11
      return;
    }
    // Another delivery of a run whose status this worker is storing right now (NATS lost its
    // consumer state and sent the run again): what that report decides comes first. The wait
    // holds this slot, at most the status publisher's time, and only in that rare case.
    const storing = this.storing.get(assignment.runId);
    if (storing) await storing.catch(() => undefined);
    if (this.endedRuns.has(assignment.runId)) {
      release();
      this.logger.info({ runId: assignment.runId, seq: msg.seq, deliveryCount: msg.info.deliveryCount, queue: this.options.queue }, "redelivery of a run this worker ended; acked without running it");
      await this.acks!.confirm(ackSubjectOf(msg), ACK);
      return;
    }
    const deliveries = msg.info.deliveryCount;
    const attempt = deliveries === 1 ? 1 : await this.handbacks!.attemptOf(assignment.runId, deliveries);
    const backoff = backoffOf(assignment.retryPolicy);
    const held: Held = { runId: assignment.runId, msg, abort: new LazyAbort() };
    // Registered before the cancel check, so a cancellation arriving meanwhile still reaches it.
    this.held.set(held.runId, held);
    const free = () => {
      if (this.held.get(held.runId) === held) this.held.delete(held.runId);
      release();
    };
    let freeAfter: Promise<unknown> | undefined;
    try {
      if (this.isCancelled(held.runId)) {
        free();
        await this.finish(msg, this.update(msg, assignment, attempt, RunState.CANCELLED, { error: "cancelled before it started" }), "ack");
        return;
      }
      if (attempt > backoff.maxAttempts) {
        free();
        // The previous attempt was lost (its worker stopped heartbeating) and it was the last one allowed.
        const error = `attempt ${attempt - 1} was lost (no heartbeat from its worker) and max_attempts (${backoff.maxAttempts}) is reached`;
        await this.finish(msg, this.update(msg, assignment, attempt, RunState.FAILED, { error }), "ack");
        return;
      }
      const { outcome, started, settled, context } = await this.execute(msg, assignment, attempt, held);
      if (outcome.kind === "aborted") {
        // A handler that ignores its aborted signal keeps its slot a little longer, not for ever.
        freeAfter = Promise.race([settled, sleep(this.options.abortGraceMs)]);
      } else free();
      await this.report({ msg, assignment, attempt, backoff, started, context }, outcome);
    } catch (error) {
      this.logger.error({ err: String(error), runId: held.runId, attempt }, "cannot report run status; the run will be redelivered");
      msg.nak(1000);
    } finally {
      if (freeAfter) void freeAfter.then(free);
      else free();
    }
  }

  /**
   * Forgets a delivery whose ack deadline may have passed (this process was paused): JetStream
   * may have handed the run to another worker, so it is not started, and a handler already
   * running it is aborted. Its message is neither acked nor naked — either could end or
   * disturb the newer delivery — and JetStream redelivers it if nobody else has it.
   */
  private dropSuperseded(msg: JsMsg): void {
    this.heartbeats.delete(msg);
    const index = this.buffered.indexOf(msg);
    if (index >= 0) this.buffered.splice(index, 1);
    for (const held of this.held.values()) {
      if (held.msg === msg && !held.abort.aborted) held.abort.abort(new DeliverySupersededError(held.runId));
    }
    this.logger.warn({ seq: msg.seq, deliveryCount: msg.info.deliveryCount, queue: this.options.queue }, "delivery held past its ack wait (was this process paused?); dropped unstarted or aborted");
  }

  /**
   * Hands an unstarted delivery back for another worker, recording it first so that it costs
   * the run no attempt (handbacks.ts); if that cannot be recorded it goes back all the same.
   */
  private async handBack(msg: JsMsg): Promise<void> {
    this.heartbeats.delete(msg);
    try {
      await this.handbacks?.record(decodeRunAssignment(msg.data).runId);
    } catch (error) {
      this.logger.warn({ err: String(error), seq: msg.seq }, "cannot record a hand-back; the run will count it as an attempt");
    }
    msg.nak();
  }

  /**
   * Whether the run is in the cancel bucket, as far as this worker's watch has seen: a
   * cancellation put while the run is being delivered may arrive just after the check,
   * and then aborts the handler it just started (as one put after the start does).
   */
  private isCancelled(runId: string): boolean {
    return this.cancelled.has(runId);
  }

  /** Forgets cancellations older than the bucket's TTL (NATS has dropped them too). */
  private pruneCancelled(): void {
    const horizon = Date.now() - this.cancelTtlMs;
    for (const [runId, putAt] of this.cancelled) if (putAt < horizon) this.cancelled.delete(runId);
  }

  /**
   * Publishes the update and, once JetStream stored it, acks or naks the run message and
   * waits for JetStream to confirm it (confirmed-ack.ts): an ack lost while the consumer's
   * leader moves would have the run executed again. Heartbeats go on meanwhile, so the
   * delivery outlives a leader election. One unconfirmed past the ack wait is logged: the
   * run may then be redelivered, and the server refuses that attempt's result.
   */
  private async finish(msg: JsMsg, update: RunStatusUpdate, then: "ack" | { nakMs: number }): Promise<void> {
    const storing = this.status!.publish(update);
    this.storing.set(update.runId, storing);
    try {
      await storing;
    } finally {
      if (this.storing.get(update.runId) === storing) this.storing.delete(update.runId);
    }
    // Every ack here ends the run (a retry naks): it is over once its status is stored.
    if (then === "ack") this.endedRuns.add(update.runId);
    const payload = then === "ack" ? ACK : nakPayload(then.nakMs);
    const confirmed = await this.acks!.confirm(ackSubjectOf(msg), payload);
    if (!confirmed && !this.nc!.isClosed()) {
      this.logger.warn({ runId: update.runId, attempt: update.attempt, queue: this.options.queue }, `JetStream did not confirm the ${then === "ack" ? "ack" : "nak"} within the ack wait; the run may be redelivered`);
    }
  }

  private ackTiming() {
    return { withinMs: this.options.ackWaitMs, tryTimeoutMs: Math.min(2000, this.options.ackWaitMs / 3) };
  }

  /** Runs the handler; resolves when it settled or its signal aborted, with the start of the attempt. */
  private async execute(
    msg: JsMsg,
    assignment: RunAssignment,
    attempt: number,
    held: Held,
  ): Promise<{ outcome: Outcome; started: Timestamp; settled: Promise<unknown>; context: RunContext }> {
    const { abort } = held;
    const runId = assignment.runId;
    const run: WorkerRun = {
      runId,
      jobId: assignment.jobId,
      jobName: assignment.jobName,
      namespace: assignment.namespace,
      queue: assignment.queue,
      attempt,
      maxAttempts: backoffOf(assignment.retryPolicy).maxAttempts,
      scheduledTime: assignment.scheduledTime ? timestampDate(assignment.scheduledTime) : new Date(0),
      payload: assignment.payload ?? {},
      labels: { ...assignment.labels },
      http: assignment.http,
    };
    const timeoutMs = assignment.attemptTimeout
      ? Number(assignment.attemptTimeout.seconds) * 1000 + Math.trunc(assignment.attemptTimeout.nanos / 1e6)
      : 0;

    // Stored before the handler starts; its completion is not waited for (the final status follows it in order).
    const running = this.update(msg, assignment, attempt, RunState.RUNNING);
    this.status!.publish(running).catch((error: unknown) =>
      this.logger.warn({ runId, attempt, queue: this.options.queue, err: String(error) }, "cannot report RUNNING"),
    );
    const timeout = timeoutMs > 0 ? setTimeout(() => abort.abort(new AttemptTimeoutError(timeoutMs)), timeoutMs) : undefined;
    // The lines logged while the handler runs, as RUNNING updates of the attempt (its
    // progress), timed at its start: should one reach the server before the start itself,
    // it starts the attempt when it did start.
    const live = {
      everyMs: this.options.logFlushMs,
      send: (logLines: RunLogLine[]) => {
        const progress = this.update(msg, assignment, attempt, RunState.RUNNING, { logLines });
        progress.time = running.time;
        this.status!.publish(progress).catch((error: unknown) =>
          this.logger.warn({ runId, attempt, queue: this.options.queue, err: String(error) }, "cannot send log lines; the attempt's end carries them"),
        );
      },
    };
    const context = new RunContext(this.logger, { runId, attempt, queue: this.options.queue }, abort, () => this.heartbeats.touch(msg), this.options.runLogLimits, live);
    let settled!: Promise<unknown>;
    const outcome = await new Promise<Outcome>((resolve) => {
      abort.onAbort((reason) => resolve({ kind: "aborted", reason }));
      settled = Promise.resolve()
        .then(() => this.options.handler(run, context))
        .then(
          (output) => resolve({ kind: "returned", output: output ?? undefined }),
          (error: unknown) => resolve({ kind: "threw", error }),
        );
    });
    if (timeout) clearTimeout(timeout);
    return { outcome, started: running.time!, settled, context };
  }

  /** Reports how the attempt ended, then acks or naks its message (heartbeats go on meanwhile). */
  private async report(a: Attempt, outcome: Outcome): Promise<void> {
    const { msg, assignment, attempt, backoff } = a;
    // A retried attempt is routine (info); a run that failed for good is what on-call looks for (warn).
    const log = (level: "info" | "warn", fields: object, message: string) =>
      this.logger[level](
        { jobId: assignment.jobId, jobName: assignment.jobName, runId: assignment.runId, attempt, queue: this.options.queue, ...fields },
        message,
      );
    // Each update that ends the attempt carries its start: if the RUNNING update is still
    // waiting for its batch, it is left out (status-publisher.ts).
    const ended = (state: RunState, fields: UpdateFields = {}): RunStatusUpdate =>
      this.update(msg, assignment, attempt, state, { ...fields, startTime: a.started, logLines: a.context.takeLogLines() ?? NO_LOG_LINES });
    const retryOrEnd = async (error: string, attemptState: RunState.FAILED | RunState.TIMED_OUT, retryable: boolean) => {
      if (retryable && attempt < backoff.maxAttempts) {
        const delay = retryDelayMs(backoff, attempt);
        const retryTime = new Date(Date.now() + delay);
        log("info", { error, delayMs: delay }, "attempt failed; retrying");
        await this.finish(
          msg,
          ended(RunState.RETRY_WAIT, { error, attemptState, retryTime: timestampFromDate(retryTime) }),
          { nakMs: delay },
        );
      } else {
        log("warn", { error }, "run failed");
        await this.finish(msg, ended(attemptState, { error }), "ack");
      }
    };

    switch (outcome.kind) {
      case "returned": {
        let output: JsonObject | undefined;
        try {
          output = normaliseOutput(outcome.output, this.options.maxOutputBytes);
        } catch (error) {
          await retryOrEnd(errorText(error), RunState.FAILED, false);
          return;
        }
        await this.finish(msg, ended(RunState.SUCCEEDED, { output }), "ack");
        return;
      }
      case "threw":
        await retryOrEnd(errorText(outcome.error), RunState.FAILED, isRetryable(outcome.error));
        return;
      case "aborted": {
        const reason = outcome.reason;
        if (reason instanceof RunCancelledError) {
          await this.finish(msg, ended(RunState.CANCELLED, { error: "cancelled" }), "ack");
        } else if (reason instanceof AttemptTimeoutError) {
          await retryOrEnd(reason.message, RunState.TIMED_OUT, true);
        } else if (reason instanceof DeliverySupersededError) {
          log("info", {}, "delivery superseded; its outcome is not reported");
        } else {
          // The worker is stopping: hand the run back at once, for another worker.
          log("info", {}, "handing the run back");
          msg.nak();
        }
        return;
      }
    }
  }

  /**
   * Stops pulling; for up to `graceMs` lets running handlers finish and starts the runs it
   * holds unstarted as slots free up (each has an attempt of its own only once); then hands
   * back what is left unstarted (nak: another worker runs it, at the same attempt, as the
   * hand-back is recorded first: handbacks.ts) and aborts the handlers still running (their
   * runs go back too, having spent that attempt); waits for every report (status stored, then ack or nak) and
   * closes, within `stopDeadlineMs` whatever NATS does.
   */
  stop(graceMs = this.options.stopGraceMs): Promise<void> {
    this.stopping ??= this.stopWithin(graceMs, Math.max(graceMs, this.options.stopDeadlineMs));
    return this.stopping;
  }

  /** The graceful stop, cut short at `deadlineMs`: a hung NATS answers no flush, drain or publish. */
  private async stopWithin(graceMs: number, deadlineMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<"deadline">((resolve) => (timer = setTimeout(() => resolve("deadline"), deadlineMs)));
    const outcome = await Promise.race([this.stopGracefully(graceMs), deadline]);
    clearTimeout(timer);
    if (outcome !== "deadline") return;
    this.logger.warn({ workerId: this.workerId, deadlineMs, running: this.held.size, reporting: this.reporting }, "worker stop deadline passed; closing without waiting for NATS");
    this.heartbeats.stop();
    this.stalls.stop();
    this.watcher?.stop();
    clearInterval(this.pruneTimer);
    for (const held of this.held.values()) held.abort.abort(new WorkerStoppingError());
    this.acks?.close();
    // close() ends the socket without a round trip; a bounded wait all the same. A connection
    // the caller owns is left to the caller.
    if (this.ownsConnection && this.nc && !this.nc.isClosed()) await Promise.race([this.nc.close().catch(() => undefined), sleep(1000)]);
    this.logger.info({ workerId: this.workerId }, "worker stopped");
  }

  private stopGracefully(graceMs: number): Promise<void> {
    return (async () => {
      await this.started?.catch(() => undefined);
      this.wake();
      for (const fetch of this.fetches) fetch.stop();
      await this.pulling;
      // Runs delivered but not started run in the grace, as slots free up: handing one back
      // (nak) would spend an attempt of it, which a run with one attempt allowed cannot afford.
      this.dispatch();
      await this.whenNoHandlers(graceMs);
      this.graceOver = true;
      // What the grace did not reach goes back, for another worker.
      await Promise.all(this.buffered.splice(0).map((msg) => this.handBack(msg)));
      for (const held of this.held.values()) held.abort.abort(new WorkerStoppingError());
      await this.whenNoHandlers(2000);
      // Every report started goes on to its ack (or nak): nothing the handlers did is dropped.
      while (this.tasks.size > 0) await Promise.allSettled([...this.tasks]);
      await this.status?.drain();
      this.acks?.close();
      this.heartbeats.stop();
      this.stalls.stop();
      this.watcher?.stop();
      clearInterval(this.pruneTimer);
      if (this.nc && !this.nc.isClosed()) {
        if (this.ownsConnection) await this.nc.drain().catch(() => this.nc!.close());
        else await this.nc.flush().catch(() => undefined);
      }
      this.logger.info({ workerId: this.workerId }, "worker stopped");
    })();
  }

  /** Runs being handled right now. */
  get running(): number {
    return this.held.size;
  }

  /** Runs whose handler ended and whose report (status stored, then ack or nak) is not done yet. */
  get reportsPending(): number {
    return this.reporting;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** A time in nanoseconds since the epoch as a Timestamp. */
function timestampOfNanos(nanos: bigint): Timestamp {
  return { $typeName: "google.protobuf.Timestamp", seconds: nanos / 1_000_000_000n, nanos: Number(nanos % 1_000_000_000n) };
}

/** The current time as a Timestamp, without timestampFromDate's create(). */
function timestampNow(): Timestamp {
  const ms = Date.now();
  return { $typeName: "google.protobuf.Timestamp", seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 };
}

function errorText(error: unknown): string {
  const text = error instanceof Error ? error.message || error.name : String(error);
  return text.length > MAX_ERROR_CHARS ? `${text.slice(0, MAX_ERROR_CHARS)}…` : text;
}

/** A handler result as a plain JSON object within the size bound. */
function normaliseOutput(output: unknown, maxBytes: number): JsonObject | undefined {
  if (output === undefined || output === null) return undefined;
  if (typeof output !== "object" || Array.isArray(output)) {
    throw new Error(`handler returned ${Array.isArray(output) ? "an array" : typeof output}; expected a JSON object or nothing`);
  }
  const json = JSON.stringify(output);
  if (Buffer.byteLength(json) > maxBytes) throw new Error(`handler output is ${Buffer.byteLength(json)} bytes; at most ${maxBytes} are kept`);
  return JSON.parse(json) as JsonObject;
}
