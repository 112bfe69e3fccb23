import type { JobSpec } from "./job-spec.js";
import { plainJob, plainRun, plainRunEvent, plainWatchJobMessage, type JobStateName, type PlainJob, type PlainRun, type PlainRunEvent, type PlainWatchJobMessage, type RunStateName } from "./plain-values.js";
import { JobState } from "./gen/chime/v1/job_pb.js";
import { RunState } from "./gen/chime/v1/run_pb.js";
import type { Job } from "./gen/chime/v1/job_pb.js";
import type { Run } from "./gen/chime/v1/run_pb.js";
import type { RunEvent } from "./gen/chime/v1/watch_service_pb.js";
import type { ScheduleSpec } from "./schedule-spec.js";
import type { WatchJobMessage, WatchOptions, WatchRunsFilter } from "./watch.js";
import type { JobFilter, RunFilter } from "./client.js";

/** The protobuf-returning helpers of the client that the plain-value facade wraps. */
interface RawHelpers {
  createJob(spec: JobSpec, options?: { requestId?: string }): Promise<Job>;
  getJob(id: string): Promise<Job>;
  updateJob(id: string, changes: Partial<Omit<JobSpec, "namespace">>): Promise<Job>;
  deleteJob(id: string): Promise<void>;
  pauseJob(id: string): Promise<Job>;
  resumeJob(id: string): Promise<Job>;
  triggerJob(id: string): Promise<Run>;
  getRun(id: string): Promise<Run>;
  cancelRun(id: string): Promise<Run>;
  previewSchedule(schedule: ScheduleSpec, count?: number, after?: Date): Promise<Date[]>;
  listJobs(filter?: JobFilter): AsyncGenerator<Job>;
  listRuns(filter?: RunFilter): AsyncGenerator<Run>;
  watchRuns(filter?: WatchRunsFilter, options?: WatchOptions): AsyncGenerator<RunEvent>;
  watchJob(id: string, options?: WatchOptions): AsyncGenerator<WatchJobMessage>;
}

/** Filters of the plain facade: states by name instead of enum numbers. */
export type PlainJobFilter = Omit<JobFilter, "state"> & { state?: JobStateName };
export type PlainRunFilter = Omit<RunFilter, "states"> & { states?: RunStateName[] };

async function* mapped<T, U>(source: AsyncGenerator<T>, convert: (value: T) => U): AsyncGenerator<U> {
  for await (const value of source) yield convert(value);
}

const byName = <E extends Record<string, string | number>>(enumObject: E, name: string): E[keyof E] => enumObject[name.toUpperCase() as keyof E];

/**
 * `chime.jobs` and `chime.runs`: the common calls with plain values (Date, number, enum
 * names, JobSpec shapes) instead of protobuf messages. The raw helpers and generated clients
 * stay on the client for everything else.
 */
export function plainValueFacade(raw: RawHelpers) {
  return {
    jobs: {
      create: async (spec: JobSpec, options: { requestId?: string } = {}): Promise<PlainJob> => plainJob(await raw.createJob(spec, options)),
      get: async (id: string): Promise<PlainJob> => plainJob(await raw.getJob(id)),
      update: async (id: string, changes: Partial<Omit<JobSpec, "namespace">>): Promise<PlainJob> => plainJob(await raw.updateJob(id, changes)),
      delete: (id: string): Promise<void> => raw.deleteJob(id),
      pause: async (id: string): Promise<PlainJob> => plainJob(await raw.pauseJob(id)),
      resume: async (id: string): Promise<PlainJob> => plainJob(await raw.resumeJob(id)),
      trigger: async (id: string): Promise<PlainRun> => plainRun(await raw.triggerJob(id)),
      list: (filter: PlainJobFilter = {}): AsyncGenerator<PlainJob> => {
        const { state, ...rest } = filter;
        return mapped(raw.listJobs(state ? { ...rest, state: byName(JobState, state) } : rest), plainJob);
      },
      watch: (id: string, options: WatchOptions = {}): AsyncGenerator<PlainWatchJobMessage> => mapped(raw.watchJob(id, options), plainWatchJobMessage),
      /** The next `count` fire times of a schedule. */
      preview: (schedule: ScheduleSpec, count?: number, after?: Date): Promise<Date[]> => raw.previewSchedule(schedule, count, after),
    },
    runs: {
      get: async (id: string): Promise<PlainRun> => plainRun(await raw.getRun(id)),
      cancel: async (id: string): Promise<PlainRun> => plainRun(await raw.cancelRun(id)),
      list: (filter: PlainRunFilter = {}): AsyncGenerator<PlainRun> => {
        const { states, ...rest } = filter;
        return mapped(raw.listRuns(states ? { ...rest, states: states.map((s) => byName(RunState, s)) } : rest), plainRun);
      },
      watch: (filter: WatchRunsFilter = {}, options: WatchOptions = {}): AsyncGenerator<PlainRunEvent> => mapped(raw.watchRuns(filter, options), plainRunEvent),
    },
  };
}
