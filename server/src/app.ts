import type { DescService } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { JobService } from "@chime/sdk/gen/job_service_pb";
import type pg from "pg";
import { createJobService } from "./api/job-service.js";
import { hardenService } from "./api/error-mapping.js";
import { createAuth } from "./auth/auth.js";
import { AdminService } from "@chime/sdk/gen/admin_service_pb";
import type { ChimeConfig } from "./config.js";
import { ensureDatabase } from "./db/ensure-database.js";
import { migrate } from "./db/migrate.js";
import { createPool } from "./db/pool.js";
import { createLogger, type Logger } from "./logger.js";
import { createMetrics } from "./metrics.js";
import { createDatabaseClock, type LocalTime } from "./util/database-clock.js";
import { createNatsHolder } from "./nats/connection.js";
import { startConnectServer } from "./transport/connect-server.js";
import { startGrpcServer } from "./transport/grpc-server.js";
import { JOB_RESPONSE_ENCODERS } from "./api/job-wire.js";
import { createHealthMonitor } from "./transport/health.js";
import { watchTlsFiles } from "./transport/tls-files.js";
import { natsLayout } from "@chime/sdk";
import { prepareJetStream } from "./nats/jetstream.js";
import { createRunPublisher } from "./scheduler/run-publisher.js";
import { startScheduler, type Scheduler } from "./scheduler/scheduler.js";
import { countScheduleEvents } from "./scheduler/schedule-events.js";
import { createWakeupSender } from "./scheduler/wakeup.js";
import { createCancelSignal, startCancelSweep } from "./runs/cancel-signal.js";
import { startMaxDeliveriesWatch } from "./runs/max-deliveries.js";
import { startStatusIngest } from "./runs/status-ingest.js";
import { startHttpExecutor, type HttpExecutor } from "./executor/http-executor.js";
import { WatchService } from "@chime/sdk/gen/watch_service_pb";
import { createWatchService } from "./watch/watch-service.js";
import { startWatchHub, type WatchHub } from "./watch/watch-hub.js";
import { registerWatchMetrics } from "./watch/watch-metrics.js";
import { observeService } from "./api/rpc-observer.js";
import { registerScrapedMetrics } from "./scraped-metrics.js";
import { AlertService } from "@chime/sdk/gen/alert_service_pb";
import { createAlertService } from "./alerts/alert-service.js";
import { startBackgroundWork } from "./events/background-work.js";
import { StatsService } from "@chime/sdk/gen/stats_service_pb";
import { createStatsService } from "./stats/stats-service.js";

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
  const signalCancel = (runIds: string[]) => cancelSignal.signal(runIds);

  const scheduler = config.roles.has("scheduler")
    ? startScheduler({
        pool,
        databaseUrl: config.databaseDirectUrl,
        publisher,
        serverId: config.serverId,
        leaseMs: config.leaderLeaseMs,
        electionIntervalMs: config.electionIntervalMs,
        batchSize: config.dispatchBatchSize,
        lookaheadMs: config.dispatchLookaheadMs,
        misfireThresholdMs: config.misfireThresholdMs,
        reconcileIntervalMs: config.reconcileIntervalMs,
        dispatchRecordDelayMs: config.dispatchRecordDelayMs,
        eventRetentionMs: config.eventRetentionMs,
        eventPruneIntervalMs: config.eventPruneIntervalMs,
        maxIdleMs: 30_000,
        now,
        clockSkew: () => ({ skewMs: clock.skewMs(), skewed: clock.skewed() }),
        metrics,
        logger,
        afterCommit: options.afterDispatchCommit,
        signalCancel,
      })
    : undefined;
  const jobsChanged = createWakeupSender(pool, (at) => scheduler?.wakeup(at));

  const services: Array<{ service: DescService; impl: ServiceImpl<DescService> }> = [];
  // Every service is served the same way: authorized, hardened (deadline, error codes), observed (metrics, request log).
  const serve = <S extends DescService>(service: S, authorized: ServiceImpl<S>) =>
    services.push({
      service,
      impl: observeService(service, hardenService(service, authorized, logger, config.requestTimeoutMs), metrics, logger) as unknown as ServiceImpl<DescService>,
    });
  // CHIME_API_TOKEN: every RPC of both stacks needs an API key (health, reflection and /healthz do not).
  const auth = createAuth({ apiToken: config.apiToken, pool, now, rateLimit: config.rateLimit });
  if (config.roles.has("api")) {
    const jobService = createJobService({
      pool,
      maxPayloadBytes: config.maxPayloadBytes,
      now,
      onJobsChanged: jobsChanged,
      dispatch: (runs) => publisher.publish(runs, "trigger"),
      signalCancel,
      onScheduleEvents: (events) => countScheduleEvents(metrics, events),
    });
    serve(JobService, auth.jobService(jobService));
    serve(AlertService, auth.operatorService(AlertService, createAlertService(pool)));
    serve(StatsService, auth.operatorService(StatsService, createStatsService({ pool, js: jetStream.client, layout })));
    if (auth.adminService) serve(AdminService, auth.adminService);
  }
  // WatchService: one tail of the event tables per replica, fanned out to its streams.
  const watchHub = config.roles.has("api")
    ? startWatchHub({ pool, logger, pollMs: config.watchPollMs, bufferLimit: config.watchBufferEvents })
    : undefined;
  if (watchHub) {
    registerWatchMetrics(metrics.registry, watchHub);
    registerScrapedMetrics(metrics.registry, { pool, js: jetStream.client, layout, logger });
    const watchService = createWatchService({
      pool,
      hub: watchHub,
      keepaliveMs: config.watchKeepaliveMs,
      bufferLimit: config.watchBufferEvents,
      shutdownSignal: shutdown.signal,
    });
    serve(WatchService, auth.watchService(watchService));
  }
  // The ingest role writes worker status into Postgres; a process of its own can take that
  // load off the api and the scheduler (every ingest replica shares one durable consumer).
  const ingest = config.roles.has("ingest")
    ? startStatusIngest({ js: jetStream.ready, pool, layout, prefix: config.natsPrefix, metrics, logger })
    : undefined;
  // Behind the scheduler: alerts (matching run ends to rules, sending notifications) and queue stats.
  const background = config.roles.has("scheduler")
    ? startBackgroundWork({
        pool,
        allowlist: config.httpAllowlist,
        intervalMs: config.backgroundIntervalMs,
        runRetentionMs: config.runRetentionMs,
        pruneIntervalMs: config.eventPruneIntervalMs,
        logger,
        metrics,
      })
    : undefined;
  const maxDeliveries = config.roles.has("ingest") ? startMaxDeliveriesWatch({ ready: jetStream.ready, connection: nats.current, layout, logger }) : undefined;
  // The api role re-signals cancellations workers may have missed.
  const cancelSweep = config.roles.has("api")
    ? startCancelSweep({ pool, cancelSignal, intervalMs: config.cancelSweepMs, logger })
    : undefined;
  // The executor role runs the built-in http job type once JetStream is ready (it does not block the start).
  let executor: HttpExecutor | undefined;
  const executorStarting = config.roles.has("executor")
    ? (async () => {
        const js = await jetStream.ready;
        const nc = nats.current();
        if (!js || !nc || shutdown.signal.aborted) return;
        executor = await startHttpExecutor({
          connection: nc,
          prefix: config.natsPrefix,
          allowlist: config.httpAllowlist,
          concurrency: config.executorConcurrency,
          workerId: config.serverId,
          logger,
        });
      })().catch((error: unknown) => logger.error({ err: error }, "cannot start the http executor"))
    : undefined;
  const health = createHealthMonitor({
    databaseUrl: config.databaseUrl,
    nats: nats.current,
    intervalMs: config.healthIntervalMs,
    services: services.map((s) => s.service.typeName),
    logger,
  });
  // Give NATS a moment so a normal start reports SERVING at once; a NATS outage does not block the start.
  await Promise.race([jetStream.ready, new Promise((resolve) => setTimeout(resolve, 2000))]);
  await health.start();

  // TLS material is read (and checked) before either port opens; both watch the same files.
  const tls = config.tls ? watchTlsFiles(config.tls, logger) : undefined;
  const grpcServer = await startGrpcServer({
    services,
    host: config.host,
    port: config.grpcPort,
    maxMessageBytes: config.maxMessageBytes,
    shutdownSignal: shutdown.signal,
    health,
    logger,
    responseEncoders: JOB_RESPONSE_ENCODERS,
    tls,
    reflectionAuth: config.reflectionAccess === "key" ? auth.authenticate : undefined,
  });
  const connectServer = await startConnectServer({
    services,
    host: config.host,
    port: config.httpPort,
    maxMessageBytes: config.maxMessageBytes,
    requestTimeoutMs: config.requestTimeoutMs,
    shutdownSignal: shutdown.signal,
    health,
    roles: config.roles,
    metrics,
    dashboardDir: config.roles.has("api") ? config.dashboardDir : undefined,
    tls,
    corsOrigins: config.corsOrigins,
    metricsAuth: config.metricsAccess === "key" ? auth.authenticate : undefined,
  });
  logger.info(
    { grpcPort: grpcServer.port, httpPort: connectServer.port, roles: [...config.roles], database },
    "chime server started",
  );

  let stopping: Promise<void> | undefined;
  return {
    grpcPort: grpcServer.port,
    httpPort: connectServer.port,
    pool,
    scheduler,
    watch: watchHub,
    stop() {
      stopping ??= (async () => {
        logger.info("chime server stopping");
        // Whatever waits for NATS (streams, ingestion, the executor) gives up if it was never reached.
        nats.giveUp();
        health.stop();
        await scheduler?.stop();
        const closing = Promise.all([
          grpcServer.close(config.shutdownGraceMs),
          connectServer.close(config.shutdownGraceMs),
        ]);
        // Streams end at once; unary calls get the grace period to finish.
        shutdown.abort();
        await watchHub?.stop();
        await executorStarting;
        await Promise.all([closing, executor?.stop(config.shutdownGraceMs)]);
        cancelSweep?.stop();
        await background?.stop();
        tls?.close();
        maxDeliveries?.stop();
        await ingest?.stop();
        await nats.close();
        clock.stop();
        await pool.end();
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
