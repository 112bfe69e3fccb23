import type { Job } from "@chime/sdk/gen/job_pb";
import { jobs } from "./api";

/** Jobs listed at most, in pages of 1,000 (ListJobs' largest page). */
const MAX_JOBS = 20_000;

/** Every job (up to MAX_JOBS), and whether there were more. */
export async function listAllJobs(signal: AbortSignal): Promise<{ jobs: Job[]; truncated: boolean }> {
  const found: Job[] = [];
  let pageToken = "";
  do {
    const page = await jobs.listJobs({ pageSize: 1000, pageToken }, { signal, timeoutMs: 10_000 });
    found.push(...page.jobs);
    pageToken = page.nextPageToken;
  } while (pageToken && found.length < MAX_JOBS);
  return { jobs: found, truncated: pageToken !== "" };
}

