import { startChimeServer } from "./app.js";
import { ConfigError, loadConfig } from "./config.js";
import { createLogger } from "./logger.js";

let config;
try {
  config = loadConfig();
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(`chime: ${error.message}`);
    process.exit(2);
  }
  throw error;
}
const logger = createLogger(config.logLevel);
/** How long past CHIME_SHUTDOWN_GRACE_MS the rest of a shutdown (ingestion, NATS, Postgres) may take. */
const SHUTDOWN_DEADLINE_MARGIN_MS = 5000;
try {
  const server = await startChimeServer(config, { logger });
  let signals = 0;
  const stop = (signal: string) => {
    signals += 1;
    if (signals > 1) process.exit(1);
    logger.info({ signal }, "shutting down");
    // A hard deadline whatever NATS and Postgres do: a hung peer answers no drain, flush or query.
    const deadlineMs = config.shutdownGraceMs + SHUTDOWN_DEADLINE_MARGIN_MS;
    setTimeout(() => {
      logger.error({ deadlineMs }, "shutdown deadline passed; exiting without waiting further");
      process.exit(1);
    }, deadlineMs).unref();
    server.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
} catch (error) {
  logger.fatal({ err: error }, (error as Error).message);
  process.exit(1);
}
