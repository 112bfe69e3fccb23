import type { GetQueueStatsResponse } from "@chime/sdk/gen/stats_service_pb";
import { listAllJobs } from "./all-jobs";
import { errorMessage, stats } from "./api";
import { eachLimited } from "./parallel";

/** GetQueueStats calls in flight at once. */
const PARALLEL = 6;

export interface QueueRow {
  queue: string;
  /** Jobs on the queue. */
  jobs: number;
  stats?: GetQueueStatsResponse;
  error?: string;
}

/** The queues jobs use (by name), each with GetQueueStats over the last hour (the server's default window). */
export async function loadQueueStats(signal: AbortSignal): Promise<{ queues: QueueRow[]; truncated: boolean }> {
  const listed = await listAllJobs(signal);
  const counts = new Map<string, number>();
  for (const job of listed.jobs) counts.set(job.queue, (counts.get(job.queue) ?? 0) + 1);
  const queues: QueueRow[] = [...counts].sort(([a], [b]) => a.localeCompare(b)).map(([queue, n]) => ({ queue, jobs: n }));
  await eachLimited(queues, PARALLEL, async (row) => {
    try {
      row.stats = await stats.getQueueStats({ queue: row.queue }, { signal, timeoutMs: 10_000 });
    } catch (error) {
      if (signal.aborted) throw error;
      row.error = errorMessage(error);
    }
  });
  return { queues, truncated: listed.truncated };
}

/** Runs waiting for a worker: in the JetStream consumer, or queued where no worker ever made one. */
export function runsWaiting(stats: GetQueueStatsResponse): bigint {
  const queued = stats.active?.queued ?? 0n;
  return stats.runsWaiting > queued ? stats.runsWaiting : queued;
}

/**
 * Runs wait and nobody takes them: no idle worker asks for runs (no pull requests) and none
 * is busy with one (nothing in flight). A queue whose workers are all busy is not flagged.
 */
export function nobodyConsumes(stats: GetQueueStatsResponse): boolean {
  return runsWaiting(stats) > 0n && stats.pullRequests === 0n && stats.runsInFlight === 0n;
}
