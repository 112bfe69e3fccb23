import type { Job } from "@chime/sdk";
import { jobFromRow, type JobRow } from "../jobs/job-store.js";

export interface VersionedJobRow extends JobRow {
  definition_version: number;
}

/**
 * The leader's parsed job definitions, keyed by job id and definition version: parsing a
 * job's spec from JSON is the largest per-fire cost of a recurring job, and a definition
 * changes only through UpdateJob (which bumps the version). Bounded; the oldest entries go first.
 *
 * The Job returned is shared between fires: its definition fields never change, and its
 * per-fire fields (state, next fire time, run count, update time) are those of the fire
 * that parsed it; callers use the row for those.
 */
export function createJobDefinitions(maxEntries = 50_000) {
  const entries = new Map<string, { version: number; job: Job }>();
  return {
    get(row: VersionedJobRow): Job {
      const cached = entries.get(row.id);
      if (cached && cached.version === row.definition_version) return cached.job;
      const job = jobFromRow(row);
      // A one-off job fires once: keeping it would only push recurring ones out.
      const recurring = job.schedule?.kind.case === "cron" || job.schedule?.kind.case === "interval";
      if (cached) entries.delete(row.id);
      if (!recurring) return job;
      if (entries.size >= maxEntries) entries.delete(entries.keys().next().value!);
      entries.set(row.id, { version: row.definition_version, job });
      return job;
    },
    get size() {
      return entries.size;
    },
  };
}

export type JobDefinitions = ReturnType<typeof createJobDefinitions>;
