import { setTimeout as sleep } from "node:timers/promises";
import { startHttpExecutor, type HttpExecutor } from "../executor/http-executor.js";
import { remainingMs, type ChimeService } from "./service.js";

/** How long the executor waits before trying to start again. */
const START_RETRY_MS = 1000;

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
      // A start can fail while JetStream moves a consumer's leader (a node just went): try again until stopped.
      for (let attempt = 1; js && !shutdownSignal.aborted; attempt++) {
        const nc = nats.current();
        try {
          if (nc) {
            executor = await startHttpExecutor({
              connection: nc,
              prefix: config.natsPrefix,
              allowlist: config.httpAllowlist,
              concurrency: config.executorConcurrency,
              workerId: config.serverId,
              logger,
            });
            return;
          }
        } catch (error) {
          logger.warn({ err: error, attempt }, "cannot start the http executor yet; trying again");
        }
        await sleep(START_RETRY_MS, undefined, { signal: shutdownSignal }).catch(() => undefined);
      }
    })();
    return {
      async stop(deadline) {
        await starting;
        // In-flight http calls get what is left of the grace period.
        await executor?.stop(remainingMs(deadline));
      },
    };
  },
};
