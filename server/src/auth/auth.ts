import type { ServiceImpl } from "@connectrpc/connect";
import { AdminService } from "@chime/sdk/gen/admin_service_pb";
import { JobService } from "@chime/sdk/gen/job_service_pb";
import { WatchService } from "@chime/sdk/gen/watch_service_pb";
import { AlertService } from "@chime/sdk/gen/alert_service_pb";
import { StatsService } from "@chime/sdk/gen/stats_service_pb";
import type pg from "pg";
import type { DescService } from "@bufbuild/protobuf";
import { createRateLimiter, rateLimited, type RateLimit } from "./rate-limit.js";
import { defaultBurst } from "../util/token-bucket.js";
import { createAdminService } from "./admin-service.js";
import { createApiKeyStore } from "./api-key-store.js";
import { createAuthenticator, requireApiKey, type Authenticator } from "./authenticate.js";
import { authorizeJobService, authorizeWatchService } from "./authorize.js";
import { authorizeAlertService, authorizeStatsService } from "./authorize-alert-stats.js";
import { auditAlertService, auditJobService } from "./audit.js";
import { createAuditLog } from "./audit-log.js";
import { createNamespaceLimits } from "./namespace-limits.js";

/**
 * API keys, on when CHIME_API_TOKEN is set (that token is the bootstrap all-namespaces
 * admin): each service implementation is wrapped so a call first finds its key, then is
 * checked against the key's role and namespace. Off, the services are served as they are
 * and AdminService is not served. Either way JobService's changes go to the audit log.
 */
export interface Auth {
  /** Set when keys are required: finds the caller of an authorization header. */
  authenticate?: Authenticator;
  jobService(impl: ServiceImpl<typeof JobService>): ServiceImpl<typeof JobService>;
  watchService(impl: ServiceImpl<typeof WatchService>): ServiceImpl<typeof WatchService>;
  alertService(impl: ServiceImpl<typeof AlertService>): ServiceImpl<typeof AlertService>;
  statsService(impl: ServiceImpl<typeof StatsService>): ServiceImpl<typeof StatsService>;
  /** Served only when keys are required. */
  adminService?: ServiceImpl<typeof AdminService>;
}

export function createAuth(options: { apiToken: string; pool: pg.Pool; now: () => Date; rateLimit?: RateLimit; eventRetentionMs: number }): Auth {
  // Every change JobService and AlertService make is audited, with keys or without (then by "anonymous").
  const audit = createAuditLog(options.pool);
  if (!options.apiToken) {
    return {
      authenticate: undefined,
      jobService: (impl: ServiceImpl<typeof JobService>) => auditJobService(impl, audit),
      watchService: (impl) => impl,
      alertService: (impl) => auditAlertService(impl, audit, options.pool),
      statsService: (impl) => impl,
      adminService: undefined,
    };
  }
  const keys = createApiKeyStore(options.pool);
  const authenticate = createAuthenticator(options.apiToken, keys, options.now);
  const limits = createNamespaceLimits(options.pool);
  // One limiter for every service a namespace's keys call: a namespace's calls share its bucket, under its own limit
  // (AdminService/SetNamespaceLimits) or CHIME_RATE_LIMIT.
  const limiter = createRateLimiter();
  const rateOf = async (namespace: string): Promise<RateLimit | undefined> => {
    const own = await limits.get(namespace);
    if (own.callsPerSecond > 0) return { perSecond: own.callsPerSecond, burst: own.callBurst || defaultBurst(own.callsPerSecond) };
    return options.rateLimit;
  };
  const limit = <S extends DescService>(service: S, impl: ServiceImpl<S>) => rateLimited(service, impl, limiter, rateOf);
  return {
    authenticate,
    jobService: (impl: ServiceImpl<typeof JobService>) =>
      requireApiKey(JobService, limit(JobService, authorizeJobService(auditJobService(impl, audit), options.pool, limits)), authenticate),
    watchService: (impl: ServiceImpl<typeof WatchService>) =>
      requireApiKey(WatchService, limit(WatchService, authorizeWatchService(impl, options.pool)), authenticate),
    alertService: (impl: ServiceImpl<typeof AlertService>) =>
      requireApiKey(AlertService, limit(AlertService, authorizeAlertService(auditAlertService(impl, audit, options.pool), options.pool)), authenticate),
    statsService: (impl: ServiceImpl<typeof StatsService>) =>
      requireApiKey(StatsService, limit(StatsService, authorizeStatsService(impl, options.pool)), authenticate),
    adminService: requireApiKey(AdminService, createAdminService({ keys, audit, limits, now: options.now, eventRetentionMs: options.eventRetentionMs }), authenticate),
  };
}
