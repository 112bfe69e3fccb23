import { AckPolicy, DeliverPolicy, type JetStreamClient, type JsMsg } from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import { decodeRunStatusBatch, DEFAULT_RUN_LOG_LIMITS, natsLayout, RunState, type NatsLayout, type RunLogLimits, type RunStatusUpdate } from "@chime/sdk";
import type pg from "pg";
import { inTransaction } from "../db/pool.js";
import type { Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";
import { REPORTABLE_STATES } from "./run-lifecycle.js";
import { appendRunLogs } from "./run-log-store.js";
import { applyReports, type ReportOutcome } from "./run-store.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface Decoded {
  updates: RunStatusUpdate[];
  /** Per update, the namespace its message's subject names (undefined: a subject of every namespace). */
  claimed: (string | undefined)[];
  invalid: number;
}

function decode(messages: JsMsg[], layout: NatsLayout, logger: Logger): { good: JsMsg[]; decoded: Decoded } {
  const good: JsMsg[] = [];
  const updates: RunStatusUpdate[] = [];
  const claimed: (string | undefined)[] = [];
  let invalid = 0;
  for (const msg of messages) {
    try {
      const batch = decodeRunStatusBatch(msg.data);
      good.push(msg);
      const namespace = layout.eventNamespace(msg.subject);
      for (const u of batch.updates) {
        if (UUID.test(u.runId) && u.attempt >= 1 && REPORTABLE_STATES.has(u.state)) {
          updates.push(u);
          claimed.push(namespace);
        } else invalid++;
      }
    } catch (error) {
      logger.warn({ err: error, seq: msg.seq }, "cannot decode a RunStatusBatch; dropping it");
      msg.term(); // no reason: "+TERM reason" needs NATS 2.11
    }
  }
  return { good, decoded: { updates, claimed, invalid } };
}

/**
 * Applies a list of workers' updates (in order) in one transaction; see run-store applyReports
 * (`claimed`: the namespace of each update's events subject, if it names one). The log lines
 * of the accepted ones are stored in the same transaction (none: no statement).
 */
export function ingestUpdates(
  pool: pg.Pool,
  updates: RunStatusUpdate[],
  logLimits: RunLogLimits = DEFAULT_RUN_LOG_LIMITS,
  claimed: readonly (string | undefined)[] = [],
): Promise<ReportOutcome> {
  if (updates.length === 0) return Promise.resolve({ accepted: [], rejected: new Map() });
  return inTransaction(pool, async (client) => {
    const outcome = await applyReports(client, updates, new Date(), claimed);
    await appendRunLogs(client, outcome.accepted, logLimits);
    return outcome;
  });
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
    const { good, decoded } = decode(batch, options.layout, logger);
    if (decoded.invalid) metrics.statusRejected.inc({ reason: "invalid" }, decoded.invalid);
    try {
      const { accepted, rejected } = await ingestUpdates(options.pool, decoded.updates, DEFAULT_RUN_LOG_LIMITS, decoded.claimed);
      for (const msg of good) msg.ack();
      // One increment per state, not per update: each labelled call hashes its labels.
      const byState = new Map<RunState, number>();
      for (const u of accepted) byState.set(u.state, (byState.get(u.state) ?? 0) + 1);
      for (const [state, count] of byState) metrics.statusIngested.inc({ state: RunState[state] }, count);
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
