import { AdminService } from "@chime/sdk/gen/admin_service_pb";
import { AlertService } from "@chime/sdk/gen/alert_service_pb";
import { JobService } from "@chime/sdk/gen/job_service_pb";
import { StatsService } from "@chime/sdk/gen/stats_service_pb";
import { WatchService } from "@chime/sdk/gen/watch_service_pb";
import { createAlertService } from "../alerts/alert-service.js";
import { createJobService } from "../api/job-service.js";
import { startCancelSweep } from "../runs/cancel-signal.js";
import { registerScrapedMetrics } from "../scraped-metrics.js";
import { countScheduleEvents } from "../scheduler/schedule-events.js";
import { createWakeupSender } from "../scheduler/wakeup.js";
import { createStatsService } from "../stats/stats-service.js";
import { startWatchHub } from "../watch/watch-hub.js";
import { registerWatchMetrics } from "../watch/watch-metrics.js";
import { createWatchService } from "../watch/watch-service.js";
import type { ChimeService } from "./service.js";

/**
 * The api role: the RPC services (jobs, alerts, stats, admin, watch) over Postgres. It needs
 * no NATS to read and write, so it scales by stateless replicas behind a load balancer.
 */
export const apiRole: ChimeService = {
  name: "api",
  roles: ["api"],
  start({ config, pool, now, publisher, cancelSignal, jetStream, layout, metrics, logger, auth, serve, shutdownSignal, links }) {
    const signalCancel = (runIds: string[]) => cancelSignal.signal(runIds);
    // A scheduler in this process is woken at once; the others hear it through Postgres.
    const jobsChanged = createWakeupSender(pool, (at) => links.scheduler?.wakeup(at));
    const jobService = createJobService({
      pool,
      maxPayloadBytes: config.maxPayloadBytes,
      eventRetentionMs: config.eventRetentionMs,
      now,
      onJobsChanged: jobsChanged,
      dispatch: (runs) => publisher.publish(runs, "trigger"),
      signalCancel,
      onScheduleEvents: (events) => countScheduleEvents(metrics, events),
    });
    serve(JobService, auth.jobService(jobService));
    serve(AlertService, auth.alertService(createAlertService(pool)));
    serve(StatsService, auth.statsService(createStatsService({ pool, js: jetStream.client, layout })));
    if (auth.adminService) serve(AdminService, auth.adminService);

    // WatchService: one tail of the event tables per replica, fanned out to its streams.
    const watchHub = startWatchHub({ pool, logger, pollMs: config.watchPollMs, bufferLimit: config.watchBufferEvents });
    links.watch = watchHub;
    registerWatchMetrics(metrics.registry, watchHub);
    registerScrapedMetrics(metrics.registry, { pool, js: jetStream.client, layout, logger });
    const watchService = createWatchService({
      pool,
      hub: watchHub,
      keepaliveMs: config.watchKeepaliveMs,
      bufferLimit: config.watchBufferEvents,
      shutdownSignal,
    });
    serve(WatchService, auth.watchService(watchService));

    // Re-signals cancellations workers may have missed.
    const cancelSweep = startCancelSweep({ pool, cancelSignal, intervalMs: config.cancelSweepMs, logger });
    return {
      async stop() {
        await watchHub.stop();
        cancelSweep.stop();
      },
    };
  },
};
