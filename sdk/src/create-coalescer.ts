import { Code, ConnectError } from "@connectrpc/connect";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { Job } from "./gen/chime/v1/job_pb.js";
import type { BatchCreateJobsResult, CreateJobRequestSchema } from "./gen/chime/v1/job_service_pb.js";

export type CreateJobInit = MessageInitShape<typeof CreateJobRequestSchema>;

export interface CreateSenders {
  /** One CreateJob call. */
  single(request: CreateJobInit): Promise<Job>;
  /** One BatchCreateJobs call: a result per request, in order. */
  batch(requests: CreateJobInit[]): Promise<BatchCreateJobsResult[]>;
}

interface Pending {
  request: CreateJobInit;
  resolve: (job: Job) => void;
  reject: (error: unknown) => void;
}

/**
 * Whole-call refusals that may belong to some items only (a namespace the key may not write,
 * a namespace's job limit, a message over the size limit, a server without BatchCreateJobs):
 * each item is then asked on its own, so it gets what CreateJob would have answered it.
 */
const ITEM_DEPENDENT = new Set([Code.InvalidArgument, Code.PermissionDenied, Code.ResourceExhausted, Code.FailedPrecondition, Code.Unimplemented]);

const nextTurn: (run: () => void) => void =
  typeof globalThis.setImmediate === "function" ? (run) => globalThis.setImmediate(run) : (run) => globalThis.setTimeout(run, 0);

/**
 * Sends the createJob calls made in the same turn of the event loop as one BatchCreateJobs
 * call, up to `maxBatch` each: one RPC's cost (HTTP/2 frames, headers, a server call) shared
 * by many jobs, where a caller creating jobs from many concurrent requests paid it per job.
 * A lone call goes as a plain CreateJob, one turn later.
 *
 * Each caller gets what its own CreateJob would have: a created job, the job of its
 * request id, or the error. An item the batch refused (invalid, name taken) is asked again
 * on its own, so its error is CreateJob's, field names and details included; refusals are
 * the rare path and cost one more call each. A batch that fails as a whole for a reason
 * that may be one item's is retried item by item; any other failure (unavailable, deadline,
 * unauthenticated) is every caller's.
 */
export function createJobCoalescer(send: CreateSenders, maxBatch: number) {
  let pending: Pending[] = [];
  let scheduled = false;

  function flush(): void {
    const batch = pending;
    pending = [];
    if (batch.length === 1) sendAlone(batch[0]);
    else if (batch.length > 1) void sendTogether(batch);
  }

  function sendAlone(item: Pending): void {
    send.single(item.request).then(item.resolve, item.reject);
  }

  async function sendTogether(batch: Pending[]): Promise<void> {
    let results: BatchCreateJobsResult[];
    try {
      results = await send.batch(batch.map((item) => item.request));
    } catch (error) {
      if (error instanceof ConnectError && ITEM_DEPENDENT.has(error.code)) batch.forEach(sendAlone);
      else for (const item of batch) item.reject(error);
      return;
    }
    if (results.length !== batch.length) {
      const error = new Error(`createJob: BatchCreateJobs answered ${results.length} results for ${batch.length} jobs`);
      for (const item of batch) item.reject(error);
      return;
    }
    batch.forEach((item, i) => {
      const { result } = results[i];
      if (result.case === "created" || result.case === "existing") item.resolve(result.value);
      else sendAlone(item);
    });
  }

  return (request: CreateJobInit): Promise<Job> =>
    new Promise<Job>((resolve, reject) => {
      pending.push({ request, resolve, reject });
      if (pending.length >= maxBatch) flush();
      else if (!scheduled) {
        scheduled = true;
        nextTurn(() => {
          scheduled = false;
          flush();
        });
      }
    });
}
