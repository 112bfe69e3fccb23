import { toBinary } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import type { JetStreamClient } from "@nats-io/jetstream";
import { RunStatusBatchSchema, RunStatusUpdateSchema, type RunStatusUpdate } from "../gen/chime/v1/worker_pb.js";

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
  /** Publish attempts per batch before its updates are reported failed. */
  publishAttempts?: number;
}

interface Pending {
  encoded: Uint8Array;
  bytes: number;
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * Collects a worker's RunStatusUpdates into RunStatusBatch messages on the events stream.
 * `publish` resolves once the batch holding the update is acknowledged by JetStream, so a
 * run message is acked or naked only after its status is stored.
 */
export function createStatusPublisher(options: StatusPublisherOptions) {
  const maxBatchBytes = options.maxBatchBytes ?? 512 * 1024;
  const publishAttempts = options.publishAttempts ?? 5;
  let pending: Pending[] = [];
  let pendingBytes = 0;
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
    const batch = pending;
    pending = [];
    pendingBytes = 0;
    const sending = send(batch).finally(() => inFlight.delete(sending));
    inFlight.add(sending);
  }

  async function send(batch: Pending[]): Promise<void> {
    const writer = new BinaryWriter();
    for (const p of batch) writer.tag(UPDATES_FIELD, WireType.LengthDelimited).bytes(p.encoded);
    const data = writer.finish();
    // The same message id on every try: a retry after a lost ack is dropped by JetStream's dedup.
    const msgID = `${batchPrefix}-${++batchCounter}`;
    let lastError: Error | undefined;
    for (let attempt = 1; attempt <= publishAttempts; attempt++) {
      try {
        await options.js.publish(options.subject, data, { msgID, timeout: 5000 });
        for (const p of batch) p.resolve();
        return;
      } catch (error) {
        lastError = error as Error;
        if (attempt < publishAttempts) await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt));
      }
    }
    for (const p of batch) p.reject(new Error(`cannot publish run status: ${lastError?.message}`, { cause: lastError }));
  }

  return {
    publish(update: RunStatusUpdate): Promise<void> {
      return new Promise<void>((resolve, reject) => {
        const encoded = toBinary(RunStatusUpdateSchema, update);
        const bytes = encoded.length + FRAME_BYTES;
        if (pending.length > 0 && pendingBytes + bytes > maxBatchBytes) flush();
        pending.push({ encoded, bytes, resolve, reject });
        pendingBytes += bytes;
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
