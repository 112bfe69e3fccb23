import { create } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate, FieldMaskSchema } from "@bufbuild/protobuf/wkt";
import { createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { withCallDefaults } from "./call-defaults.js";
import { createJobCoalescer } from "./create-coalescer.js";
import { withChimeErrors } from "./errors.js";
import { plainValueFacade } from "./plain-facade.js";
import type { Job, JobState } from "./gen/chime/v1/job_pb.js";
import { JobService, type BatchCreateJobsResult } from "./gen/chime/v1/job_service_pb.js";
import { AlertService } from "./gen/chime/v1/alert_service_pb.js";
import { AdminService } from "./gen/chime/v1/admin_service_pb.js";
import { StatsService } from "./gen/chime/v1/stats_service_pb.js";
import type { Run, RunState } from "./gen/chime/v1/run_pb.js";
import { WatchService, type RunEvent } from "./gen/chime/v1/watch_service_pb.js";
import { SPEC_FIELD_PATHS, toJob, type JobSpec } from "./job-spec.js";
import { toSchedule, type ScheduleSpec } from "./schedule-spec.js";
import { watchJob, watchRuns, type WatchJobMessage, type WatchOptions, type WatchRunsFilter, type WatchTargets } from "./watch.js";

export interface ChimeClientOptions {
  /** The server's gRPC address, e.g. "http://localhost:8080". */
  baseUrl: string;
  /** Sent as "authorization: Bearer <token>" when set. */
  token?: string;
  /** Default deadline of each call, in milliseconds. */
  timeoutMs?: number;
  /** Use another transport (Connect, gRPC-Web) instead of gRPC over HTTP/2; token and timeoutMs still apply. */
  transport?: Transport;
  /**
   * For an https:// baseUrl: the CA that signed the server's certificate (when it is not a
   * public one), and the client certificate and key a server with mTLS asks for (PEM).
   */
  tls?: ClientTlsOptions;
  /**
   * createJob calls made in the same turn of the event loop go to the server together, as
   * one BatchCreateJobs call of up to this many jobs (default 32); each caller still gets
   * its own job or CreateJob's error. 1 sends every createJob as its own CreateJob call.
   */
  createBatchSize?: number;
}

export interface ClientTlsOptions {
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  /** The name the server's certificate must carry, when it is not the baseUrl's host (e.g. through a tunnel). */
  servername?: string;
}

/**
 * Makes the gRPC transport of a base URL. The Node entry passes connect-node's; the browser
 * entry (@chime/sdk/web) passes none, so nothing of Node is imported there.
 */
export type GrpcTransportFactory = (init: { baseUrl: string; interceptors: Interceptor[]; defaultTimeoutMs?: number; nodeOptions?: ClientTlsOptions }) => Transport;

export interface JobFilter {
  state?: JobState;
  queue?: string;
  /** e.g. "env=prod,team,!legacy" */
  labelSelector?: string;
  namePrefix?: string;
  namespace?: string;
  /** Jobs fetched per call. */
  pageSize?: number;
}

export interface RunFilter {
  jobId?: string;
  states?: RunState[];
  scheduledAfter?: Date;
  scheduledBefore?: Date;
  pageSize?: number;
}

/** One job of a batchCreateJobs call: a JobSpec, with its own idempotency key if wanted. */
export type BatchJobSpec = JobSpec & { requestId?: string };

/**
 * What became of one job of a batchCreateJobs call (the generated oneof, never unset):
 * `created`, `existing` (created earlier with the same requestId) with the job, or `error`
 * with its code (Code.InvalidArgument, Code.AlreadyExists) and a message naming the field as
 * jobs[i].job.field.
 */
export type BatchCreateResult = Exclude<BatchCreateJobsResult["result"], { case: undefined }>;

/** The most jobs one BatchCreateJobs call takes (its proto comment); the server refuses more. */
export const MAX_BATCH_JOBS = 1000;
const DEFAULT_CREATE_BATCH_SIZE = 32;

export type ChimeClient = ReturnType<typeof createChimeClientOn>;

/**
 * A typed Chime client: the raw JobService client plus plain-value helpers and paging
 * iterators. Import createChimeClient from "@chime/sdk" (Node) or "@chime/sdk/web".
 */
export function createChimeClientOn(options: ChimeClientOptions, createGrpcTransport?: GrpcTransportFactory) {
  const interceptors: Interceptor[] = [];
  if (options.token) {
    const header = `Bearer ${options.token}`;
    interceptors.push((next) => (request) => {
      request.header.set("authorization", header);
      return next(request);
    });
  }
  const nodeOptions = options.tls;
  const grpcTransport = (init: Parameters<GrpcTransportFactory>[0]): Transport => {
    if (!createGrpcTransport) throw new Error("transport: required where gRPC over HTTP/2 is not available (@chime/sdk/web)");
    return createGrpcTransport(nodeOptions ? { ...init, nodeOptions } : init);
  };
  // Every call of every service client, on any transport, throws ChimeErrors.
  const transport = withChimeErrors(options.transport
    ? withCallDefaults(options.transport, options)
    : grpcTransport({ baseUrl: options.baseUrl, interceptors, ...(options.timeoutMs === undefined ? {} : { defaultTimeoutMs: options.timeoutMs }) }));
  const jobService: Client<typeof JobService> = createClient(JobService, transport);
  const createBatchSize = options.createBatchSize ?? DEFAULT_CREATE_BATCH_SIZE;
  if (!Number.isInteger(createBatchSize) || createBatchSize < 1 || createBatchSize > MAX_BATCH_JOBS) {
    throw new RangeError(`createBatchSize: expected an integer from 1 to ${MAX_BATCH_JOBS}, got ${createBatchSize}`);
  }
  const coalescedCreate = createJobCoalescer(
    {
      single: async (request) => (await jobService.createJob(request)).job!,
      batch: async (jobs) => (await jobService.batchCreateJobs({ jobs })).results,
    },
    createBatchSize,
  );
  const watchTargets = (baseUrls: string[] | undefined): WatchTargets =>
    baseUrls?.length
      ? { transports: baseUrls.map((baseUrl) => ({ baseUrl, transport: withChimeErrors(grpcTransport({ baseUrl, interceptors })) })) }
      : { transports: [{ baseUrl: options.baseUrl, transport }] };

  const client = {
    /** The generated JobService client, for anything the helpers do not cover. */
    jobService,
    /** The generated AlertService client: alert channels, rules and delivery history. */
    alertService: createClient(AlertService, transport),
    /** The generated AdminService client: API keys, namespace limits and the audit log. */
    adminService: createClient(AdminService, transport),
    /** The generated StatsService client: run stats of a job or a queue over a window, and run ends over time (getRunSeries). */
    statsService: createClient(StatsService, transport),
    /** The generated WatchService client, e.g. for WatchRunLogs (watchRuns and watchJob below reconnect on their own). */
    watchService: createClient(WatchService, transport),

    /**
     * Creates a job; with a requestId, a retried call returns the job the first one created.
     * Calls made together share one BatchCreateJobs call (options.createBatchSize).
     */
    async createJob(spec: JobSpec, requestOptions: { requestId?: string } = {}): Promise<Job> {
      return coalescedCreate({ job: toJob(spec), requestId: requestOptions.requestId ?? "" });
    },

    /**
     * Creates up to 1,000 jobs in one call, each validated on its own; the valid ones are
     * written together. Returns one result per spec, in order.
     */
    async batchCreateJobs(specs: BatchJobSpec[]): Promise<BatchCreateResult[]> {
      const { results } = await jobService.batchCreateJobs({
        jobs: specs.map(({ requestId, ...spec }) => ({ job: toJob(spec), requestId: requestId ?? "" })),
      });
      if (results.length !== specs.length) throw new Error(`batchCreateJobs: ${results.length} results for ${specs.length} jobs`);
      return results.map((item, i) => {
        if (item.result.case === undefined) throw new Error(`batchCreateJobs: no result for jobs[${i}]`);
        return item.result;
      });
    },

    async getJob(id: string): Promise<Job> {
      return (await jobService.getJob({ id })).job!;
    },

    /** Replaces the fields present in `changes`, leaving the others as they are. */
    async updateJob(id: string, changes: Partial<Omit<JobSpec, "namespace">>): Promise<Job> {
      const paths = Object.keys(changes).map((key) => SPEC_FIELD_PATHS[key as keyof JobSpec] ?? key);
      const { job } = await jobService.updateJob({ job: toJob(changes, id), updateMask: create(FieldMaskSchema, { paths }) });
      return job!;
    },

    async deleteJob(id: string): Promise<void> {
      await jobService.deleteJob({ id });
    },

    async pauseJob(id: string): Promise<Job> {
      return (await jobService.pauseJob({ id })).job!;
    },

    async resumeJob(id: string): Promise<Job> {
      return (await jobService.resumeJob({ id })).job!;
    },

    async triggerJob(id: string): Promise<Run> {
      return (await jobService.triggerJob({ id })).run!;
    },

    async getRun(id: string): Promise<Run> {
      return (await jobService.getRun({ id })).run!;
    },

    async cancelRun(id: string): Promise<Run> {
      return (await jobService.cancelRun({ id })).run!;
    },

    /** The next `count` fire times of a schedule. */
    async previewSchedule(schedule: ScheduleSpec, count = 10, after?: Date): Promise<Date[]> {
      const { fireTimes } = await jobService.previewSchedule({
        schedule: toSchedule(schedule),
        count,
        after: after ? timestampFromDate(after) : undefined,
      });
      return fireTimes.map((t) => timestampDate(t));
    },

    /**
     * Run events matching the filter, live (or from options.resumeToken on): reconnects on
     * its own with its last token, rotating over options.baseUrls, so no event is missed or
     * repeated. Break out of the loop or abort options.signal to stop.
     */
    watchRuns(filter: WatchRunsFilter = {}, watchOptions: WatchOptions = {}): AsyncGenerator<RunEvent> {
      return watchRuns(watchTargets(watchOptions.baseUrls), filter, watchOptions);
    },

    /** One job: a snapshot of it and its active runs, then its changes and its runs' events. */
    watchJob(id: string, watchOptions: WatchOptions = {}): AsyncGenerator<WatchJobMessage> {
      return watchJob(watchTargets(watchOptions.baseUrls), id, watchOptions);
    },

    /** Every job matching the filter, fetched page by page as the loop asks for more. */
    async *listJobs(filter: JobFilter = {}): AsyncGenerator<Job> {
      let pageToken = "";
      do {
        const page = await jobService.listJobs({
          pageSize: filter.pageSize ?? 0,
          pageToken,
          state: filter.state,
          queue: filter.queue ?? "",
          labelSelector: filter.labelSelector ?? "",
          namePrefix: filter.namePrefix ?? "",
          namespace: filter.namespace ?? "",
        });
        yield* page.jobs;
        pageToken = page.nextPageToken;
      } while (pageToken);
    },

    /** Every run matching the filter, newest scheduled first, page by page. */
    async *listRuns(filter: RunFilter = {}): AsyncGenerator<Run> {
      let pageToken = "";
      do {
        const page = await jobService.listRuns({
          pageSize: filter.pageSize ?? 0,
          pageToken,
          jobId: filter.jobId ?? "",
          states: filter.states ?? [],
          scheduledAfter: filter.scheduledAfter ? timestampFromDate(filter.scheduledAfter) : undefined,
          scheduledBefore: filter.scheduledBefore ? timestampFromDate(filter.scheduledBefore) : undefined,
        });
        yield* page.runs;
        pageToken = page.nextPageToken;
      } while (pageToken);
    },
  };
  return { ...client, ...plainValueFacade(client) };
}
