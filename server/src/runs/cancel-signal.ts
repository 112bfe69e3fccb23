import type { JetStreamClient } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsLayout } from "@chime/sdk";
import type pg from "pg";
import type { Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";
import { findCancelRequested } from "./run-store.js";

const PUT_TIMEOUT_MS = 2000;

/**
 * Tells workers that runs were cancelled: after the cancellation is committed in Postgres,
 * each run id is put into the cancel KV bucket (key = run id). Workers watch the bucket and
 * abort the handler holding the run; a worker receiving a cancelled run acks it unrun.
 * A failed put is logged and counted; the sweep puts it again later.
 */
export function createCancelSignal(options: { js: () => JetStreamClient | undefined; layout: NatsLayout; metrics: Metrics; logger: Logger }) {
  let bucket: Promise<KV> | undefined;
  const open = (js: JetStreamClient) => {
    bucket ??= new Kvm(js).open(options.layout.cancelBucket).catch((error: unknown) => {
      bucket = undefined;
      throw error;
    });
    return bucket;
  };
  return {
    /** Puts the run ids into the cancel bucket; never throws (the sweep covers failures). */
    async signal(runIds: string[]): Promise<void> {
      if (runIds.length === 0) return;
      const js = options.js();
      try {
        if (!js) throw new Error("NATS is not connected");
        const kv = await open(js);
        const stamp = new Date().toISOString();
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          Promise.all(runIds.map((id) => kv.put(id, stamp))),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`no answer from NATS in ${PUT_TIMEOUT_MS} ms`)), PUT_TIMEOUT_MS);
          }),
        ]).finally(() => clearTimeout(timer));
        options.metrics.cancelSignals.inc({ outcome: "ok" }, runIds.length);
      } catch (error) {
        options.metrics.cancelSignals.inc({ outcome: "failed" }, runIds.length);
        options.logger.warn({ err: error, runs: runIds.length }, "cannot signal run cancellation to workers yet; the sweep will retry");
      }
    },
  };
}

export type CancelSignal = ReturnType<typeof createCancelSignal>;

/**
 * Every `intervalMs`, signals again the runs still RUNNING whose cancellation was
 * requested more than `intervalMs` ago (a put that failed, a worker that missed it).
 */
export function startCancelSweep(options: { pool: pg.Pool; cancelSignal: CancelSignal; intervalMs: number; logger: Logger }) {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const sweep = async () => {
    try {
      const ids = await findCancelRequested(options.pool, options.intervalMs, 1000);
      await options.cancelSignal.signal(ids);
    } catch (error) {
      options.logger.warn({ err: error }, "cancel sweep failed");
    }
    if (!stopped) timer = setTimeout(() => void sweep(), options.intervalMs);
  };
  timer = setTimeout(() => void sweep(), options.intervalMs);
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
