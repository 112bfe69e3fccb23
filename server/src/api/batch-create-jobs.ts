import { Code, ConnectError } from "@connectrpc/connect";
import { MAX_BATCH_JOBS } from "@chime/sdk";
import { JobState, type Job } from "@chime/sdk/gen/job_pb";
import type { BatchCreateJobsRequest, BatchCreateJobsResultSchema } from "@chime/sdk/gen/job_service_pb";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { createMany, type CreateItem, type CreateOutcome } from "../jobs/create-many.js";
import { nameTakenMessage, type JobStore } from "../jobs/job-store.js";
import { validateJob, type ValidationOptions } from "../jobs/job-validation.js";
import { toDate } from "../util/time.js";
import { invalidArgument } from "./errors.js";
import { validateRequestId } from "./request-id.js";


type ResultInit = MessageInitShape<typeof BatchCreateJobsResultSchema>;

const refused = (code: Code, message: string): ResultInit => ({ result: { case: "error", value: { code, message } } });

export interface BatchCreateDeps {
  jobs: JobStore;
  now: () => Date;
  validation: () => ValidationOptions;
  /** Wakes the scheduler for the earliest fire time among the jobs created. */
  onJobsChanged?: (nextRunTime: Date) => void;
}

/**
 * BatchCreateJobs: each item is validated as CreateJob validates its job, with its fields
 * named jobs[i]…, and refused on its own; the valid ones are created together (createMany).
 */
export async function batchCreateJobs(request: BatchCreateJobsRequest, deps: BatchCreateDeps): Promise<{ results: ResultInit[] }> {
  const count = request.jobs.length;
  if (count < 1 || count > MAX_BATCH_JOBS) throw invalidArgument(`jobs: expected 1 to ${MAX_BATCH_JOBS} items, got ${count}`);
  const options = deps.validation();
  const errors: (string | undefined)[] = [];
  const items = request.jobs.map((item, i): CreateItem | undefined => {
    try {
      validateRequestId(item.requestId, `jobs[${i}].request_id`);
      return { job: validateJob(item.job, options, `jobs[${i}].job`), requestId: item.requestId };
    } catch (error) {
      if (!(error instanceof ConnectError) || error.code !== Code.InvalidArgument) throw error;
      errors[i] = error.rawMessage;
      return undefined;
    }
  });
  const outcomes = await createMany(deps.jobs, items, deps.now());
  wakeForEarliest(outcomes, deps.onJobsChanged);
  return {
    results: outcomes.map((outcome, i) =>
      outcome ? resultOf(outcome, i, items[i]!.job) : refused(Code.InvalidArgument, errors[i]!),
    ),
  };
}

function resultOf(outcome: CreateOutcome, i: number, job: Job): ResultInit {
  switch (outcome.kind) {
    case "created":
      return { result: { case: "created", value: outcome.job } };
    case "existing":
      return { result: { case: "existing", value: outcome.job } };
    case "nameTaken":
      return refused(Code.AlreadyExists, nameTakenMessage(`jobs[${i}].job.name`, job));
    case "nameInBatch":
      return refused(
        Code.AlreadyExists,
        `jobs[${i}].job.name: jobs[${outcome.first}] of this call is also named ${JSON.stringify(job.name)} in namespace ${JSON.stringify(job.namespace)}`,
      );
  }
}

/** One wakeup for the batch: the earliest next fire time of the active jobs it created. */
function wakeForEarliest(outcomes: (CreateOutcome | undefined)[], wake: ((at: Date) => void) | undefined): void {
  let earliest: Date | undefined;
  for (const outcome of outcomes) {
    if (outcome?.kind !== "created" || outcome.job.state !== JobState.ACTIVE || !outcome.job.nextRunTime) continue;
    const at = toDate(outcome.job.nextRunTime);
    if (!earliest || at < earliest) earliest = at;
  }
  if (earliest) wake?.(earliest);
}
