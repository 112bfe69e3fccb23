import type { ServiceImpl } from "@connectrpc/connect";
import { ApiKeyRole } from "@chime/sdk/gen/admin_service_pb";
import type { AlertService } from "@chime/sdk/gen/alert_service_pb";
import type { StatsService } from "@chime/sdk/gen/stats_service_pb";
import type pg from "pg";
import { guarded, namespaceChecks } from "./authorize.js";
import { scopeNamespace } from "./principal.js";

/**
 * Role and namespace checks of AlertService and StatsService, as JobService's: a key of one
 * namespace sees and manages only its namespace's channels, rules, deliveries and figures;
 * calls without a namespace act in the key's; another namespace's channel, rule or job is
 * NOT_FOUND, exactly as one that does not exist, and naming another namespace is
 * PERMISSION_DENIED. Keys of all namespaces pass unchanged.
 *
 * Roles: readers list; writers create and delete channels and rules. A rule or channel
 * decides what is sent where about the namespace's runs, as a job (a writer's) decides what
 * runs and which URL an http job posts to: the same power over the same namespace, so the
 * same role. Admin stays for what governs the keys themselves (keys, limits, the audit log).
 */
export function authorizeAlertService(impl: ServiceImpl<typeof AlertService>, pool: pg.Pool): ServiceImpl<typeof AlertService> {
  const owns = namespaceChecks(pool);
  const as = guarded<typeof AlertService>(impl);
  return {
    createAlertChannel: as(ApiKeyRole.WRITER, "createAlertChannel", (p, request) => {
      if (request.channel) request.channel.namespace = scopeNamespace(p, request.channel.namespace, "channel.namespace");
    }),
    listAlertChannels: as(ApiKeyRole.READER, "listAlertChannels", (p, request) => {
      request.namespace = scopeNamespace(p, request.namespace);
    }),
    deleteAlertChannel: as(ApiKeyRole.WRITER, "deleteAlertChannel", (p, request) => owns.channel(p, request.id)),
    // The rule lands in the key's namespace; its channel and job must then be of that
    // namespace too, which the service checks (NOT_FOUND otherwise) for every key.
    createAlertRule: as(ApiKeyRole.WRITER, "createAlertRule", (p, request) => {
      if (request.rule) request.rule.namespace = scopeNamespace(p, request.rule.namespace, "rule.namespace");
    }),
    listAlertRules: as(ApiKeyRole.READER, "listAlertRules", (p, request) => {
      request.namespace = scopeNamespace(p, request.namespace);
    }),
    deleteAlertRule: as(ApiKeyRole.WRITER, "deleteAlertRule", (p, request) => owns.rule(p, request.id)),
    listAlertDeliveries: as(ApiKeyRole.READER, "listAlertDeliveries", async (p, request) => {
      request.namespace = scopeNamespace(p, request.namespace);
      if (request.ruleId) await owns.rule(p, request.ruleId, "rule_id");
    }),
  };
}

export function authorizeStatsService(impl: ServiceImpl<typeof StatsService>, pool: pg.Pool): ServiceImpl<typeof StatsService> {
  const owns = namespaceChecks(pool);
  const as = guarded<typeof StatsService>(impl);
  return {
    getJobStats: as(ApiKeyRole.READER, "getJobStats", (p, request) => owns.job(p, request.jobId, "job_id")),
    // The series is summed from the per-namespace rollups: a key of one namespace gets its own.
    getRunSeries: as(ApiKeyRole.READER, "getRunSeries", (p, request) => {
      request.namespace = scopeNamespace(p, request.namespace);
    }),
    // The rollups and active counts are kept per namespace, so these are the key's own; its
    // JetStream figures are its namespace's own consumer's, if its workers have one
    // (stats-service.ts): the queue's consumer of every namespace would tell one tenant about
    // the others' runs.
    getQueueStats: as(ApiKeyRole.READER, "getQueueStats", (p, request) => {
      request.namespace = scopeNamespace(p, request.namespace);
    }),
  };
}
