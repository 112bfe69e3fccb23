import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { ApiKeyRole } from "@chime/sdk/gen/admin_service_pb";
import type { JobService } from "@chime/sdk/gen/job_service_pb";
import type { WatchService } from "@chime/sdk/gen/watch_service_pb";
import type pg from "pg";
import type { DescService } from "@bufbuild/protobuf";
import { notFound, requireId } from "../api/errors.js";
import { principalOf, requireRole, scopeNamespace, seesNamespace, type Principal } from "./principal.js";
import { DEFAULT_NAMESPACE } from "../jobs/job-validation.js";
import type { NamespaceLimitStore } from "./namespace-limits.js";

/**
 * Role and namespace checks of every JobService and WatchService call, inside requireApiKey
 * (which found the caller); AlertService's and StatsService's, built on the same checks, are
 * in authorize-alert-stats.ts. A key for one namespace acts only there: calls without a
 * namespace act in the key's, and another namespace's job or run is NOT_FOUND, exactly as
 * a job that does not exist, so its existence does not leak.
 */

type Handler = (request: never, context: HandlerContext) => unknown;

export function callerOf(context: HandlerContext): Principal {
  const principal = principalOf(context);
  if (!principal) throw new ConnectError("no API key was checked for this call", Code.Internal);
  return principal;
}

/** Where each kind of target's namespace is read, by its id. */
const NAMESPACE_OF = {
  job: "SELECT namespace FROM jobs WHERE id = $1 AND deleted_time IS NULL",
  run: "SELECT j.namespace FROM runs r JOIN jobs j ON j.id = r.job_id WHERE r.id = $1",
  "alert channel": "SELECT namespace FROM alert_channels WHERE id = $1",
  "alert rule": "SELECT namespace FROM alert_rules WHERE id = $1",
} as const;

export type Owns = Record<"job" | "run" | "channel" | "rule", (principal: Principal, id: string, field?: string) => Promise<void>>;

/** Reads a target's namespace, for keys of one namespace (NOT_FOUND when unknown or another's). */
export function namespaceChecks(pool: pg.Pool): Owns {
  const check = (what: keyof typeof NAMESPACE_OF) => async (principal: Principal, id: string, field = "id") => {
    if (principal.namespace === undefined) return;
    const valid = requireId(field, id);
    const { rows } = await pool.query<{ namespace: string }>(NAMESPACE_OF[what], [valid]);
    if (!rows[0] || !seesNamespace(principal, rows[0].namespace)) throw notFound(what, id);
  };
  return { job: check("job"), run: check("run"), channel: check("alert channel"), rule: check("alert rule") };
}

type RequestOf<S extends DescService, M extends keyof ServiceImpl<S>> = ServiceImpl<S>[M] extends (request: infer R, context: HandlerContext) => unknown ? R : never;

/**
 * The checks of a service's unary methods: `as(role, method, before)` serves the method to
 * callers with the role at least, after `before` (which may scope the request to the
 * caller's namespace, or throw) has run.
 */
export function guarded<S extends DescService>(impl: ServiceImpl<S>) {
  return <M extends keyof ServiceImpl<S>>(role: ApiKeyRole, method: M, before: (principal: Principal, request: RequestOf<S, M>) => Promise<void> | void) =>
    (async (request: never, context: HandlerContext) => {
      const principal = callerOf(context);
      requireRole(principal, role, String(method));
      await before(principal, request);
      return (impl[method] as Handler)(request, context);
    }) as ServiceImpl<S>[M];
}

/** Jobs a create call adds, per namespace (an unset namespace is "default", as validation makes it). */
function jobsAdded(jobs: Array<{ namespace: string } | undefined>): Map<string, number> {
  const adding = new Map<string, number>();
  for (const job of jobs) if (job) adding.set(job.namespace || DEFAULT_NAMESPACE, (adding.get(job.namespace || DEFAULT_NAMESPACE) ?? 0) + 1);
  return adding;
}

export function authorizeJobService(impl: ServiceImpl<typeof JobService>, pool: pg.Pool, limits: NamespaceLimitStore): ServiceImpl<typeof JobService> {
  const owns = namespaceChecks(pool);
  const as = guarded<typeof JobService>(impl);
  const none = () => undefined;
  return {
    createJob: as(ApiKeyRole.WRITER, "createJob", async (p, request) => {
      if (request.job) request.job.namespace = scopeNamespace(p, request.job.namespace, "job.namespace");
      await limits.checkJobQuota(jobsAdded([request.job]));
    }),
    batchCreateJobs: as(ApiKeyRole.WRITER, "batchCreateJobs", async (p, request) => {
      request.jobs.forEach((item, i) => {
        if (item.job) item.job.namespace = scopeNamespace(p, item.job.namespace, `jobs[${i}].job.namespace`);
      });
      await limits.checkJobQuota(jobsAdded(request.jobs.map((item) => item.job)));
    }),
    getJob: as(ApiKeyRole.READER, "getJob", (p, request) => owns.job(p, request.id)),
    listJobs: as(ApiKeyRole.READER, "listJobs", (p, request) => {
      request.namespace = scopeNamespace(p, request.namespace);
    }),
    updateJob: as(ApiKeyRole.WRITER, "updateJob", (p, request) => owns.job(p, request.job?.id ?? "", "job.id")),
    deleteJob: as(ApiKeyRole.WRITER, "deleteJob", (p, request) => owns.job(p, request.id)),
    pauseJob: as(ApiKeyRole.WRITER, "pauseJob", (p, request) => owns.job(p, request.id)),
    resumeJob: as(ApiKeyRole.WRITER, "resumeJob", (p, request) => owns.job(p, request.id)),
    triggerJob: as(ApiKeyRole.WRITER, "triggerJob", (p, request) => owns.job(p, request.id)),
    getRun: as(ApiKeyRole.READER, "getRun", (p, request) => owns.run(p, request.id)),
    getRunLogs: as(ApiKeyRole.READER, "getRunLogs", (p, request) => owns.run(p, request.runId, "run_id")),
    listRuns: as(ApiKeyRole.READER, "listRuns", async (p, request) => {
      request.namespace = scopeNamespace(p, request.namespace);
      if (request.jobId) await owns.job(p, request.jobId, "job_id");
    }),
    listScheduleEvents: as(ApiKeyRole.READER, "listScheduleEvents", (p, request) => owns.job(p, request.jobId, "job_id")),
    cancelRun: as(ApiKeyRole.WRITER, "cancelRun", (p, request) => owns.run(p, request.id)),
    previewSchedule: as(ApiKeyRole.READER, "previewSchedule", none),
    getSchedulerStatus: as(ApiKeyRole.READER, "getSchedulerStatus", none),
  };
}

export function authorizeWatchService(impl: ServiceImpl<typeof WatchService>, pool: pg.Pool): ServiceImpl<typeof WatchService> {
  const owns = namespaceChecks(pool);
  return {
    async *watchRuns(request, context) {
      const principal = callerOf(context);
      requireRole(principal, ApiKeyRole.READER, "watchRuns");
      request.namespace = scopeNamespace(principal, request.namespace);
      yield* impl.watchRuns(request, context);
    },
    async *watchRunLogs(request, context) {
      const principal = callerOf(context);
      requireRole(principal, ApiKeyRole.READER, "watchRunLogs");
      await owns.run(principal, request.runId, "run_id");
      yield* impl.watchRunLogs(request, context);
    },
    async *watchJob(request, context) {
      const principal = callerOf(context);
      requireRole(principal, ApiKeyRole.READER, "watchJob");
      await owns.job(principal, request.id);
      yield* impl.watchJob(request, context);
    },
  };
}
