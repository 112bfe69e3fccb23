import type { ConsumerInfo, JetStreamClient } from "@nats-io/jetstream";
import type { NatsLayout } from "@chime/sdk";

/** A queue's durable JetStream consumer, as its workers share it (or the sum of several). */
export interface QueueConsumerStats {
  queue: string;
  /** The namespace a consumer serves; undefined: every namespace (or a sum over consumers). */
  namespace?: string;
  /** Runs not yet delivered to any worker. */
  waiting: number;
  /** Delivered and not yet acknowledged. */
  inFlight: number;
  /** Pull requests of idle workers (about one per idle worker). */
  pullRequests: number;
}

const statsOf = (queue: string, namespace: string | undefined, info: ConsumerInfo): QueueConsumerStats => ({
  queue,
  ...(namespace === undefined ? {} : { namespace }),
  waiting: info.num_pending,
  inFlight: info.num_ack_pending,
  pullRequests: info.num_waiting,
});

/**
 * Every queue consumer of the runs stream (per queue, or per namespace and queue, as workers
 * made them), known by its filter subject rather than its name; undefined before JetStream is
 * reached.
 */
export async function readQueueConsumers(js: JetStreamClient | undefined, layout: NatsLayout): Promise<QueueConsumerStats[] | undefined> {
  if (!js) return undefined;
  const jsm = await js.jetstreamManager();
  const stats: QueueConsumerStats[] = [];
  for await (const info of jsm.consumers.list(layout.runsStream)) {
    const taken = layout.parseQueueFilter(info.config.filter_subject);
    if (taken) stats.push(statsOf(taken.queue, taken.namespace, info));
  }
  return stats;
}

/**
 * A queue's figures from a listing of consumers: for a namespace, those of the consumer that
 * serves it (its own, or else, unless `ownOnly`, the queue's consumer of every namespace,
 * whose figures count every namespace's runs); for no namespace, the sum over the queue's
 * consumers. Undefined when no consumer serves it.
 */
export function queueFigures(consumers: QueueConsumerStats[], queue: string, namespace?: string, ownOnly = false): QueueConsumerStats | undefined {
  const ofQueue = consumers.filter((c) => c.queue === queue);
  const own = () => ofQueue.find((c) => c.namespace === namespace) ?? (ownOnly ? undefined : ofQueue.find((c) => c.namespace === undefined));
  const chosen = namespace ? [own()].filter((c) => c !== undefined) : ofQueue;
  if (chosen.length === 0) return undefined;
  const sum = (pick: (c: QueueConsumerStats) => number) => chosen.reduce((total, c) => total + pick(c), 0);
  return { queue, ...(namespace ? { namespace } : {}), waiting: sum((c) => c.waiting), inFlight: sum((c) => c.inFlight), pullRequests: sum((c) => c.pullRequests) };
}

/** One queue's figures (of a namespace, or of all; `ownOnly` as queueFigures); zeros when no worker ever consumed it. */
export async function readQueueConsumer(js: JetStreamClient, layout: NatsLayout, queue: string, namespace?: string, ownOnly = false): Promise<QueueConsumerStats> {
  const consumers = (await readQueueConsumers(js, layout)) ?? [];
  return queueFigures(consumers, queue, namespace, ownOnly) ?? { queue, waiting: 0, inFlight: 0, pullRequests: 0 };
}

/**
 * A queue no worker ever consumed has no consumer to read: its waiting runs are the messages
 * on its subjects of the runs stream (a work queue: a message stays until a consumer acks it),
 * one namespace's or every namespace's.
 */
export async function readUnconsumedQueue(js: JetStreamClient, layout: NatsLayout, queue: string, namespace?: string): Promise<QueueConsumerStats> {
  const jsm = await js.jetstreamManager();
  const info = await jsm.streams.info(layout.runsStream, { subjects_filter: layout.queueFilter(namespace || undefined, queue) });
  const waiting = Object.values(info.state.subjects ?? {}).reduce((total, count) => total + count, 0);
  return { queue, ...(namespace ? { namespace } : {}), waiting, inFlight: 0, pullRequests: 0 };
}
