import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { JobService } from "@chime/sdk/gen/job_service_pb";
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

/**
 * Writes an audit entry for every change JobService makes (reads are not audited), once the
 * change is committed and before the call is answered.
 */
export function auditJobService(impl: Impl, audit: AuditLog): Impl {
  const audited = <M extends keyof Impl>(method: M, entries: (request: Parameters<Impl[M]>[0], response: Awaited<ReturnType<Impl[M]>>) => Array<Omit<AuditRecord, "keyId" | "keyName" | "address">>) =>
    (async (request: never, context: HandlerContext) => {
      const response = await (impl[method] as unknown as (r: never, c: HandlerContext) => Promise<never>)(request, context);
      const who = caller(context);
      await audit.record(entries(request, response).map((entry) => ({ ...who, ...entry })));
      return response;
    }) as unknown as Impl[M];
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
