import type { Run } from "@chime/sdk/gen/run_pb";
import { jobs } from "./api";
import { eachLimited } from "./parallel";

/**
 * Each job's newest run (by scheduled time), by job id; jobs without runs are absent.
 * One ListRuns call per job: the Job message carries no last run of its own.
 */
export async function lastRuns(jobIds: string[], signal: AbortSignal): Promise<Map<string, Run>> {
  const found = new Map<string, Run>();
  await eachLimited(jobIds, 8, async (jobId) => {
    const { runs } = await jobs.listRuns({ jobId, pageSize: 1 }, { signal, timeoutMs: 10_000 });
    if (runs[0]) found.set(jobId, runs[0]);
  });
  return found;
}
