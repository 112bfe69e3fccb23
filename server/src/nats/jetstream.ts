import { jetstream, type JetStreamClient } from "@nats-io/jetstream";
import { createAckedPublisher, type AckedPublisher } from "./acked-publisher.js";
import type { Logger } from "../logger.js";
import type { NatsHolder } from "./connection.js";
import { ensureStreams } from "./streams.js";

/**
 * Once NATS is reachable, makes sure the prefix's streams exist and hands out a
 * JetStream client and a batch publisher; until then both are undefined and publishes
 * are left to the reconciler.
 */
export function prepareJetStream(nats: NatsHolder, streams: { prefix: string; replicas: number }, logger: Logger, signal: AbortSignal) {
  let client: JetStreamClient | undefined;
  let publisher: AckedPublisher | undefined;
  const ready = (async () => {
    const nc = await nats.ready;
    while (nc && !signal.aborted) {
      try {
        await ensureStreams(nc, streams.prefix, streams.replicas);
        client = jetstream(nc);
        publisher = createAckedPublisher(nc);
        return client;
      } catch (error) {
        logger.warn({ err: error }, "cannot set up JetStream streams yet; retrying");
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
    return undefined;
  })();
  return { client: () => client, publisher: () => publisher, ready };
}
