import { JetStreamApiCodes, JetStreamApiError, type ConsumerInfo, type JetStreamClient } from "@nats-io/jetstream";
import type { NatsLayout } from "@chime/sdk";

/** A queue's durable JetStream consumer, as its workers share it. */
export interface QueueConsumerStats {
  queue: string;
  /** Runs not yet delivered to any worker. */
  waiting: number;
  /** Delivered and not yet acknowledged. */
  inFlight: number;
  /** Pull requests of idle workers (about one per idle worker). */
  pullRequests: number;
}

const statsOf = (queue: string, info: ConsumerInfo): QueueConsumerStats => ({
  queue,
  waiting: info.num_pending,
  inFlight: info.num_ack_pending,
  pullRequests: info.num_waiting,
});

/** Every queue consumer of the runs stream (one per queue a worker ever consumed); undefined before JetStream is reached. */
export async function readQueueConsumers(js: JetStreamClient | undefined, layout: NatsLayout): Promise<QueueConsumerStats[] | undefined> {
  if (!js) return undefined;
  const jsm = await js.jetstreamManager();
  const prefix = layout.queueConsumer("");
  const stats: QueueConsumerStats[] = [];
  for await (const info of jsm.consumers.list(layout.runsStream)) {
    if (info.name.startsWith(prefix)) stats.push(statsOf(info.name.slice(prefix.length), info));
  }
  return stats;
}

/** One queue's consumer; zeros when no worker ever consumed the queue. */
export async function readQueueConsumer(js: JetStreamClient, layout: NatsLayout, queue: string): Promise<QueueConsumerStats> {
  const jsm = await js.jetstreamManager();
  try {
    return statsOf(queue, await jsm.consumers.info(layout.runsStream, layout.queueConsumer(queue)));
  } catch (error) {
    if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.ConsumerNotFound) {
      return { queue, waiting: 0, inFlight: 0, pullRequests: 0 };
    }
    throw error;
  }
}

/**
 * A queue no worker ever consumed has no consumer to read: its waiting runs are the messages
 * on its subject of the runs stream (a work queue: a message stays until a consumer acks it).
 */
export async function readUnconsumedQueue(js: JetStreamClient, layout: NatsLayout, queue: string): Promise<QueueConsumerStats> {
  const jsm = await js.jetstreamManager();
  const subject = layout.runSubject(queue);
  const info = await jsm.streams.info(layout.runsStream, { subjects_filter: subject });
  return { queue, waiting: info.state.subjects?.[subject] ?? 0, inFlight: 0, pullRequests: 0 };
}
