import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import type { JetStreamClient } from "@nats-io/jetstream";
import { RunState } from "../gen/chime/v1/run_pb.js";
import { RunStatusBatchSchema, type RunStatusUpdate } from "../gen/chime/v1/worker_pb.js";
import { encodeRunStatusUpdate } from "../wire/run-status.js";

/** A RunStatusBatch is its updates' encodings, each framed as field `updates`: each update is encoded once. */
const UPDATES_FIELD = RunStatusBatchSchema.field.updates.number;
/** Framing per update at most: a one-byte tag and a length varint. */
const FRAME_BYTES = 6;

export interface StatusPublisherOptions {
  js: JetStreamClient;
  subject: string;
  /** Longest an update waits for others to share its batch. */
  flushMs: number;
  /** Updates per batch at most. */
  maxBatch: number;
  /** Bytes per batch at most (NATS messages are limited, 1 MiB by default). */
  maxBatchBytes?: number;
  /**
   * How long a batch is tried before its updates are reported failed (default 10 s). A failed
   * report hands its run back to be run again, so this outlasts a JetStream leader election
   * (a node lost: "jetstream is not enabled", timeouts); the worker heartbeats the run's
   * delivery meanwhile, so it is not redelivered however long this takes.
   */
  publishWithinMs?: number;
}

interface Pending {
  /** The encoded update; a RUNNING update is encoded only when its batch is sent, as it may be left out. */
  encoded: Uint8Array | RunStatusUpdate;
  bytes: number;
  resolve: () => void;
  reject: (error: Error) => void;
  /** A RUNNING update that the end of its attempt replaced before it was sent. */
  replaced?: boolean;
}


const attemptKey = (update: RunStatusUpdate) => `${update.runId}/${update.attempt}`;

/**
 * An upper bound of a RUNNING update's encoded size (ids, attempt, state, time, worker id:
 * no error or output), counting three bytes per UTF-16 unit and ten per number.
 */
const runningBytesAtMost = (update: RunStatusUpdate) => 64 + 3 * (update.runId.length + update.jobId.length + update.workerId.length);

/**
 * Collects a worker's RunStatusUpdates into RunStatusBatch messages on the events stream.
 * `publish` resolves once the batch holding the update is acknowledged by JetStream, so a
 * run message is acked or naked only after its status is stored.
 *
 * An attempt that ends while its RUNNING update is still waiting for its batch (a handler
 * quicker than the flush window) is reported by one update: the ending one, which carries the
 * attempt's start (`start_time`, set by the worker); the RUNNING update's promise settles with it.
 */
export function createStatusPublisher(options: StatusPublisherOptions) {
  const maxBatchBytes = options.maxBatchBytes ?? 512 * 1024;
  const publishWithinMs = options.publishWithinMs ?? 10_000;
  let pending: Pending[] = [];
  let pendingBytes = 0;
  /** RUNNING updates waiting for their batch, by run and attempt. */
  let pendingStarts = new Map<string, Pending>();
  let timer: NodeJS.Timeout | undefined;
  const inFlight = new Set<Promise<void>>();
  let batchCounter = 0;
  const batchPrefix = `${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;

  function flush(): void {
    if (timer) {
      clearTimeout(timer);
      timer = undefined;
    }
    if (pending.length === 0) return;
    const batch = pending.filter((p) => !p.replaced);
    pending = [];
    pendingBytes = 0;
    pendingStarts = new Map();
    const sending = send(batch).finally(() => inFlight.delete(sending));
    inFlight.add(sending);
  }

  async function send(batch: Pending[]): Promise<void> {
    const writer = new BinaryWriter();
    for (const p of batch) {
      const encoded = p.encoded instanceof Uint8Array ? p.encoded : encodeRunStatusUpdate(p.encoded);
      writer.tag(UPDATES_FIELD, WireType.LengthDelimited).bytes(encoded);
    }
    const data = writer.finish();
    // The same message id on every try: a retry after a lost ack is dropped by JetStream's dedup.
    const msgID = `${batchPrefix}-${++batchCounter}`;
    let lastError: Error | undefined;
    const giveUpAt = Date.now() + publishWithinMs;
    for (let pauseMs = 200; ; pauseMs = Math.min(1000, pauseMs * 2)) {
      try {
        await options.js.publish(options.subject, data, { msgID, timeout: Math.max(1000, Math.min(5000, giveUpAt - Date.now())) });
        for (const p of batch) p.resolve();
        return;
      } catch (error) {
        lastError = error as Error;
        if (Date.now() + pauseMs >= giveUpAt) break;
        await new Promise((resolve) => setTimeout(resolve, pauseMs));
      }
    }
    for (const p of batch) p.reject(new Error(`cannot publish run status: ${lastError?.message}`, { cause: lastError }));
  }

  return {
    publish(update: RunStatusUpdate): Promise<void> {
      return new Promise<void>((resolve, reject) => {
        const key = attemptKey(update);
        const start = update.state === RunState.RUNNING || !update.startTime ? undefined : pendingStarts.get(key);
        if (start) {
          // The attempt ended before its RUNNING update was sent: this update reports both.
          pendingStarts.delete(key);
          start.replaced = true;
          pendingBytes -= start.bytes;
          const own = { resolve, reject };
          resolve = () => (start.resolve(), own.resolve());
          reject = (error) => (start.reject(error), own.reject(error));
        }
        // An attempt's start; a RUNNING update with log lines is the attempt's progress, sent as it is.
        const running = update.state === RunState.RUNNING && update.logLines.length === 0;
        const encoded = running ? update : encodeRunStatusUpdate(update);
        const bytes = (encoded instanceof Uint8Array ? encoded.length : runningBytesAtMost(update)) + FRAME_BYTES;
        if (pending.length > 0 && pendingBytes + bytes > maxBatchBytes) flush();
        const entry: Pending = { encoded, bytes, resolve, reject };
        pending.push(entry);
        pendingBytes += bytes;
        if (running) pendingStarts.set(key, entry);
        if (pending.length >= options.maxBatch) flush();
        else timer ??= setTimeout(flush, options.flushMs);
      });
    },
    /** Sends what is waiting and resolves when every batch sent so far is settled. */
    async drain(): Promise<void> {
      flush();
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
  };
}

export type StatusPublisher = ReturnType<typeof createStatusPublisher>;
