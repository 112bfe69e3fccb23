import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { DescService } from "@bufbuild/protobuf";
import type { JobService } from "@chime/sdk/gen/job_service_pb";
import type { AlertService } from "@chime/sdk/gen/alert_service_pb";
import type pg from "pg";
import { PEER } from "../api/peer.js";
import type { AuditLog, AuditRecord } from "./audit-log.js";
import { principalOf } from "./principal.js";

type Impl = ServiceImpl<typeof JobService>;

/** Who made a call, for its audit entries: the key (none when keys are off) and the address. */
export function caller(context: HandlerContext): Pick<AuditRecord, "keyId" | "keyName" | "address"> {
  const principal = principalOf(context);
  return { keyId: principal?.keyId ?? "", keyName: principal?.name ?? "anonymous", address: context.values.get(PEER) };
}

// Handlers answer message-init shapes: only the fields read here are needed.
const ofJob = (action: string, job: { id?: string; namespace?: string } | undefined) =>
  job?.id ? [{ action, target: `job/${job.id}`, namespace: job.namespace ?? "" }] : [];
const ofRun = (action: string, run: { id?: string; jobId?: string } | undefined) => (run?.id ? [{ action, target: `run/${run.id}`, jobId: run.jobId }] : []);

type Entry = Omit<AuditRecord, "keyId" | "keyName" | "address">;

/**
 * Wraps methods of a service so that each writes its audit entries once its change is
 * committed and before the call is answered (a failed call writes none). `before` reads what
 * the entries need and the change removes (a deleted row's namespace).
 */
function auditing<S extends DescService>(impl: ServiceImpl<S>, audit: AuditLog) {
  type Impl = ServiceImpl<S>;
  return <M extends keyof Impl, B = undefined>(
    method: M,
    entries: (request: Parameters<Impl[M]>[0], response: Awaited<ReturnType<Impl[M]>>, before: B) => Entry[],
    before?: (request: Parameters<Impl[M]>[0]) => Promise<B>,
  ) =>
    (async (request: never, context: HandlerContext) => {
      const read = (before ? await before(request) : undefined) as B;
      const response = await (impl[method] as unknown as (r: never, c: HandlerContext) => Promise<never>)(request, context);
      const who = caller(context);
      await audit.record(entries(request, response, read).map((entry) => ({ ...who, ...entry })));
      return response;
    }) as unknown as Impl[M];
}

/** Writes an audit entry for every change JobService makes (reads are not audited). */
export function auditJobService(impl: Impl, audit: AuditLog): Impl {
  const audited = auditing<typeof JobService>(impl, audit);
  return {
    ...impl,
    createJob: audited("createJob", (_, response) => ofJob("CreateJob", response.job)),
    batchCreateJobs: audited("batchCreateJobs", (_, response) =>
      (response.results ?? []).flatMap((item) => (item.result?.case === "created" ? ofJob("BatchCreateJobs", item.result.value) : [])),
    ),
    updateJob: audited("updateJob", (_, response) => ofJob("UpdateJob", response.job)),
    pauseJob: audited("pauseJob", (_, response) => ofJob("PauseJob", response.job)),
    resumeJob: audited("resumeJob", (_, response) => ofJob("ResumeJob", response.job)),
    deleteJob: audited("deleteJob", (request) => [{ action: "DeleteJob", target: `job/${request.id.toLowerCase()}`, jobId: request.id }]),
    triggerJob: audited("triggerJob", (_, response) => ofRun("TriggerJob", response.run)),
    cancelRun: audited("cancelRun", (_, response) => ofRun("CancelRun", response.run)),
  };
}

type AlertImpl = ServiceImpl<typeof AlertService>;

/**
 * Writes an audit entry for every change AlertService makes: channels and rules created and
 * deleted (a deleted one's namespace read before it goes, so its namespace's admins see it).
 */
export function auditAlertService(impl: AlertImpl, audit: AuditLog, pool: pg.Pool): AlertImpl {
  const audited = auditing<typeof AlertService>(impl, audit);
  const namespaceOf = (table: "alert_channels" | "alert_rules") => async (request: { id: string }) =>
    (await pool.query<{ namespace: string }>(`SELECT namespace FROM ${table} WHERE id::text = $1`, [request.id])).rows[0]?.namespace ?? "";
  return {
    ...impl,
    createAlertChannel: audited("createAlertChannel", (_, response) =>
      response.channel?.id ? [{ action: "CreateAlertChannel", target: `alert_channel/${response.channel.id}`, namespace: response.channel.namespace ?? "" }] : [],
    ),
    deleteAlertChannel: audited(
      "deleteAlertChannel",
      (request, _, namespace) => [{ action: "DeleteAlertChannel", target: `alert_channel/${request.id}`, namespace }],
      namespaceOf("alert_channels"),
    ),
    createAlertRule: audited("createAlertRule", (_, response) =>
      response.rule?.id ? [{ action: "CreateAlertRule", target: `alert_rule/${response.rule.id}`, namespace: response.rule.namespace ?? "" }] : [],
    ),
    deleteAlertRule: audited(
      "deleteAlertRule",
      (request, _, namespace) => [{ action: "DeleteAlertRule", target: `alert_rule/${request.id}`, namespace }],
      namespaceOf("alert_rules"),
    ),
  };
}
