import type { DescService } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import type pg from "pg";
import { hardenService } from "./api/error-mapping.js";
import { createAuth } from "./auth/auth.js";
import type { ChimeConfig } from "./config.js";
import { ensureDatabase } from "./db/ensure-database.js";
import { migrate } from "./db/migrate.js";
import { createPool } from "./db/pool.js";
import { createLogger, type Logger } from "./logger.js";
import { createMetrics } from "./metrics.js";
import { createDatabaseClock, type LocalTime } from "./util/database-clock.js";
import { createNatsHolder } from "./nats/connection.js";
import { natsLayout } from "@chime/sdk";
import { prepareJetStream } from "./nats/jetstream.js";
import { createRunPublisher } from "./scheduler/run-publisher.js";
import { observeService } from "./api/rpc-observer.js";
import { createCancelSignal } from "./runs/cancel-signal.js";
import type { Scheduler } from "./scheduler/scheduler.js";
import type { WatchHub } from "./watch/watch-hub.js";
import { apiRole } from "./roles/api.js";
import { executorRole } from "./roles/executor.js";
import { ingestRole } from "./roles/ingest.js";
import { schedulerRole } from "./roles/scheduler.js";
import { runsIn, startInOrder, type ChimeService, type ServedService, type ServiceContext } from "./roles/service.js";
import { transportService, type TransportPorts } from "./roles/transport.js";

export interface ChimeServerOptions {
  logger?: Logger;
  /** The time source; tests substitute a controllable clock (by default Postgres' time, database-clock.ts). */
  now?: () => Date;
  /** Test hook: the local clocks the database clock reads. */
  localTime?: LocalTime;
  /** Test hook: called after the scheduler commits runs and before it publishes them. */
  afterDispatchCommit?: (runIds: string[]) => void;
}

export interface RunningChimeServer {
  grpcPort: number;
  httpPort: number;
  pool: pg.Pool;
  /** The scheduler role, when on. */
  scheduler?: Scheduler;
  /** The api role's event tail behind WatchService (subscriber counts for tests). */
  watch?: WatchHub;
  /** Stops accepting calls, lets in-flight ones finish (up to the grace period), and closes everything. */
  stop(): Promise<void>;
}

/** Starts one Chime server process's worth of roles with the given configuration. */
export async function startChimeServer(config: ChimeConfig, options: ChimeServerOptions = {}): Promise<RunningChimeServer> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const shutdown = new AbortController();
  const database = redactUrl(config.databaseUrl);
  try {
    if (await ensureDatabase(config.databaseDirectUrl)) logger.info({ database }, "created database");
  } catch (error) {
    throw new Error(`cannot reach Postgres at ${database}: ${(error as Error).message}`, { cause: error });
  }
  // Migrations hold a session advisory lock: on the direct connection, not through a pooler.
  const migrationPool = createPool(config.databaseDirectUrl, 1);
  const applied = await migrate(migrationPool).finally(() => migrationPool.end());
  if (applied.length) logger.info({ applied }, "applied migrations");
  const pool = createPool(config.databaseUrl, config.databasePoolSize);

  const metrics = createMetrics();
  // Every fire decision and timestamp the server makes uses Postgres' time, never the local wall clock.
  const clock = createDatabaseClock({
    pool,
    intervalMs: config.electionIntervalMs,
    maxSkewMs: config.maxClockSkewMs,
    logger,
    local: options.localTime,
    onSkew: (skewMs, skewed) => {
      metrics.clockSkew.set(skewMs / 1000);
      metrics.clockSkewed.set(skewed ? 1 : 0);
    },
  });
  await clock.start();
  const now = options.now ?? (() => new Date(clock.now()));
  const nats = createNatsHolder(config.natsUrl, `chime-server-${config.serverId}`, logger, config.natsSecurity);
  const layout = natsLayout(config.natsPrefix);
  const jetStream = prepareJetStream(nats, { prefix: config.natsPrefix, replicas: config.natsReplicas }, logger, shutdown.signal);
  const publisher = createRunPublisher({ pool, nats: jetStream.publisher, layout, metrics, logger, recordDelayMs: config.dispatchRecordDelayMs, now });
  const cancelSignal = createCancelSignal({ js: jetStream.client, layout, metrics, logger });

  const served: ServedService[] = [];
  const context: ServiceContext = {
    config,
    options,
    logger,
    metrics,
    pool,
    now,
    clockSkew: () => ({ skewMs: clock.skewMs(), skewed: clock.skewed() }),
    nats,
    jetStream,
    layout,
    publisher,
    cancelSignal,
    // CHIME_API_TOKEN: every RPC of both stacks needs an API key (health, reflection and /healthz do not).
    auth: createAuth({ apiToken: config.apiToken, pool, now, rateLimit: config.rateLimit, eventRetentionMs: config.eventRetentionMs }),
    shutdownSignal: shutdown.signal,
    endStreams: () => shutdown.abort(),
    // Every service is served the same way: authorized, hardened (deadline, error codes), observed (metrics, request log).
    serve: (service, authorized) =>
      served.push({
        service,
        impl: observeService(service, hardenService(service, authorized, logger, config.requestTimeoutMs), metrics, logger) as unknown as ServiceImpl<DescService>,
      }),
    served,
    links: {},
  };
  let ports: TransportPorts = { grpcPort: 0, httpPort: 0 };
  // Started top to bottom, stopped bottom to top: the scheduler stops dispatching first, the
  // transports stop taking calls next, and what the calls and runs need stops after them.
  const table: ChimeService[] = [
    ingestRole,
    executorRole,
    apiRole,
    transportService((bound) => (ports = bound)),
    schedulerRole,
  ];
  const closeFoundation = async () => {
    nats.giveUp();
    await nats.close();
    clock.stop();
    await pool.end();
  };
  const services = await startInOrder(table.filter((service) => runsIn(service, config.roles)), context).catch(async (error: unknown) => {
    await closeFoundation();
    throw error;
  });
  logger.info(
    { grpcPort: ports.grpcPort, httpPort: ports.httpPort, roles: [...config.roles], services: services.names, database },
    "chime server started",
  );

  let stopping: Promise<void> | undefined;
  return {
    grpcPort: ports.grpcPort,
    httpPort: ports.httpPort,
    pool,
    scheduler: context.links.scheduler,
    watch: context.links.watch,
    stop() {
      stopping ??= (async () => {
        logger.info("chime server stopping");
        // Whatever waits for NATS (streams, ingestion, the executor) gives up if it was never reached.
        nats.giveUp();
        await services.stopInReverse(Date.now() + config.shutdownGraceMs);
        await closeFoundation();
        logger.info("chime server stopped");
      })();
      return stopping;
    },
  };
}

function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(invalid URL)";
  }
}
