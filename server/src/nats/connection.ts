import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "../logger.js";

/**
 * Keeps a NATS connection: it is made in the background (the server starts even when
 * NATS is down, and reports NOT_SERVING until it is reachable) and reconnects forever.
 */
export function createNatsHolder(url: string, name: string, logger: Logger) {
  let connection: NatsConnection | undefined;
  let closed = false;
  const ready = (async () => {
    const nc = await connect({
      servers: url,
      name,
      waitOnFirstConnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      // Async traces capture a stack (an Error) per request: a tenth of the leader's CPU
      // when it publishes thousands of runs per second.
      noAsyncTraces: true,
    });
    if (closed) {
      await nc.close();
      return undefined;
    }
    connection = nc;
    logger.info({ server: nc.getServer() }, "connected to NATS");
    void (async () => {
      for await (const status of nc.status()) {
        if (status.type === "disconnect" || status.type === "reconnect") logger.warn({ nats: status.type }, "NATS connection changed");
      }
    })().catch(() => undefined);
    return nc;
  })().catch((error: unknown) => {
    logger.error({ err: error }, "cannot connect to NATS");
    return undefined;
  });
  return {
    current: () => connection,
    ready,
    async close() {
      closed = true;
      const nc = connection ?? (await Promise.race([ready, Promise.resolve(undefined)]));
      if (nc && !nc.isClosed()) await nc.drain().catch(() => nc.close());
    },
  };
}

export type NatsHolder = ReturnType<typeof createNatsHolder>;
