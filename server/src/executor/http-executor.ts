import type { NatsConnection } from "@nats-io/transport-node";
import { Worker } from "@chime/sdk";
import type { Logger } from "../logger.js";
import type { Allowlist } from "./http-guard.js";
import { createHttpHandler } from "./http-handler.js";

/** The reserved queue the built-in executor serves. */
export const HTTP_QUEUE = "http";

/** The executor role: an SDK Worker on the "http" queue running the http handler. */
export async function startHttpExecutor(options: {
  connection: NatsConnection;
  prefix: string;
  allowlist: Allowlist;
  concurrency: number;
  ackWaitMs?: number;
  workerId: string;
  logger: Logger;
}) {
  const handler = createHttpHandler({ allowlist: options.allowlist });
  const worker = new Worker({
    connection: options.connection,
    prefix: options.prefix,
    queue: HTTP_QUEUE,
    concurrency: options.concurrency,
    ackWaitMs: options.ackWaitMs,
    handler,
    workerId: `${options.workerId}/http`,
    logger: options.logger.child({ component: "http-executor" }),
  });
  await worker.start();
  return {
    worker,
    async stop(graceMs?: number): Promise<void> {
      await worker.stop(graceMs);
      await handler.close();
    },
  };
}

export type HttpExecutor = Awaited<ReturnType<typeof startHttpExecutor>>;
