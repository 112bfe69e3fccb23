import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { decodeRunAssignment, encodeRunStatusBatch, RunState, RunStatusBatchSchema, type NatsLayout } from "@chime/sdk";
import type { Logger } from "../logger.js";

/** What JetStream says when a message reached its consumer's max_deliver. */
interface MaxDeliveriesAdvisory {
  stream: string;
  consumer: string;
  stream_seq: number;
  deliveries: number;
}

/**
 * Ends FAILED the runs whose message JetStream gave up on: after the consumer's max_deliver
 * (set by the Worker) a run that crashed every worker it reached is delivered no more, and
 * would otherwise stay RUNNING for ever. JetStream's MAX_DELIVERIES advisory names the
 * message; its run gets a FAILED report for the last delivery, which goes through status
 * ingestion (and so the lifecycle's attempt fencing) like a worker's; the message is then
 * deleted from the work queue. One ingest replica takes each advisory (a queue group).
 */
export function startMaxDeliveriesWatch(options: { ready: Promise<unknown>; connection: () => NatsConnection | undefined; layout: NatsLayout; logger: Logger }) {
  let subscription: Subscription | undefined;
  let stopped = false;
  const handle = async (jsm: JetStreamManager, js: JetStreamClient, advisory: MaxDeliveriesAdvisory) => {
    const stored = await jsm.streams.getMessage(advisory.stream, { seq: advisory.stream_seq });
    if (!stored) return; // acked or deleted meanwhile
    const assignment = decodeRunAssignment(stored.data);
    const error = `delivered ${advisory.deliveries} times (the queue's max_deliver) without a result from any worker`;
    const batch = create(RunStatusBatchSchema, {
      updates: [{ runId: assignment.runId, jobId: assignment.jobId, attempt: advisory.deliveries, state: RunState.FAILED, error, time: timestampFromDate(new Date()), workerId: "jetstream" }],
    });
    await js.publish(options.layout.eventSubject(assignment.namespace || undefined, assignment.queue), encodeRunStatusBatch(batch));
    await jsm.streams.deleteMessage(advisory.stream, advisory.stream_seq, false);
    options.logger.warn({ runId: assignment.runId, deliveries: advisory.deliveries }, "run message reached max deliveries; run failed");
  };
  void (async () => {
    await options.ready;
    const nc = options.connection();
    if (!nc || stopped) return;
    const jsm = await jetstreamManager(nc);
    const js = jetstream(nc);
    subscription = nc.subscribe(`$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${options.layout.runsStream}.*`, { queue: `${options.layout.runsStream}-max-deliveries` });
    for await (const msg of subscription) {
      try {
        await handle(jsm, js, msg.json<MaxDeliveriesAdvisory>());
      } catch (error) {
        options.logger.error({ err: error }, "cannot fail a run that reached max deliveries");
      }
    }
  })();
  return {
    stop() {
      stopped = true;
      subscription?.unsubscribe();
    },
  };
}
