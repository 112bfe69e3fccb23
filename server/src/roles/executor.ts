import { startHttpExecutor, type HttpExecutor } from "../executor/http-executor.js";
import { remainingMs, type ChimeService } from "./service.js";

/**
 * The executor role runs the built-in http job type. It starts once JetStream is ready and
 * does not block the process's start; replicas share the queue's consumer.
 */
export const executorRole: ChimeService = {
  name: "executor",
  roles: ["executor"],
  start({ config, nats, jetStream, shutdownSignal, logger }) {
    let executor: HttpExecutor | undefined;
    const starting = (async () => {
      const js = await jetStream.ready;
      const nc = nats.current();
      if (!js || !nc || shutdownSignal.aborted) return;
      executor = await startHttpExecutor({
        connection: nc,
        prefix: config.natsPrefix,
        allowlist: config.httpAllowlist,
        concurrency: config.executorConcurrency,
        workerId: config.serverId,
        logger,
      });
    })().catch((error: unknown) => logger.error({ err: error }, "cannot start the http executor"));
    return {
      async stop(deadline) {
        await starting;
        // In-flight http calls get what is left of the grace period.
        await executor?.stop(remainingMs(deadline));
      },
    };
  },
};
