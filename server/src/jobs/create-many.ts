import type { Job } from "@chime/sdk/gen/job_pb";
import { insertedJob, planInsert, requestKey, type JobStore } from "./job-store.js";
import type { JobInsert } from "./job-insert.js";

/** What became of one job of a bulk create. */
export type CreateOutcome =
  | { kind: "created"; job: Job }
  /** A job created earlier with the same request id (by another call, or earlier in this one). */
  | { kind: "existing"; job: Job }
  /** A live job has the name. */
  | { kind: "nameTaken" }
  /** An earlier item of the same call has the name (and is created). */
  | { kind: "nameInBatch"; first: number };

export interface CreateItem {
  job: Job;
  requestId: string;
}

/**
 * Creates validated jobs together: every new one in a single INSERT (one transaction), each
 * item with CreateJob's meaning on its own. `items` may have holes (items refused before this);
 * their outcomes stay holes.
 *
 * - An item whose request id was seen (in its namespace) is answered with that job; so is one
 *   repeating an earlier item's request id, with the earlier item's outcome.
 * - Of the items to insert that share a name, the first takes it; the others are refused.
 * - A row the insert skipped lost a race: its request id was served meanwhile (answered with
 *   that job), or its name was taken.
 */
export async function createMany(store: JobStore, items: (CreateItem | undefined)[], now: Date): Promise<(CreateOutcome | undefined)[]> {
  // Filled, not sparse: map() skips the holes of a sparse array.
  const outcomes: (CreateOutcome | undefined)[] = new Array<CreateOutcome | undefined>(items.length).fill(undefined);
  /** For an item repeating an earlier item's request id: that item's index. */
  const sameRequestAs = new Map<number, number>();
  const firstOfRequest = new Map<string, number>();
  const lookups: { namespace: string; requestId: string }[] = [];
  items.forEach((item, i) => {
    if (!item?.requestId) return;
    const key = requestKey(item.job.namespace, item.requestId);
    const first = firstOfRequest.get(key);
    if (first !== undefined) sameRequestAs.set(i, first);
    else {
      firstOfRequest.set(key, i);
      lookups.push({ namespace: item.job.namespace, requestId: item.requestId });
    }
  });
  const seen = await store.findByRequestIds(lookups);

  const rows: { index: number; item: CreateItem; row: JobInsert }[] = [];
  const nameOwner = new Map<string, number>();
  items.forEach((item, i) => {
    if (!item || sameRequestAs.has(i)) return;
    const existing = item.requestId ? seen.get(requestKey(item.job.namespace, item.requestId)) : undefined;
    if (existing) {
      outcomes[i] = { kind: "existing", job: existing };
      return;
    }
    const nameKey = `${item.job.namespace}\u0000${item.job.name}`;
    const first = nameOwner.get(nameKey);
    if (first !== undefined) {
      outcomes[i] = { kind: "nameInBatch", first };
      return;
    }
    nameOwner.set(nameKey, i);
    rows.push({ index: i, item, row: planInsert(item.job, item.requestId, now) });
  });

  const inserted = rows.length > 0 ? await store.insertMany(rows.map((r) => r.row)) : new Set<string>();
  const raced = rows.filter((r) => !inserted.has(r.row.id));
  const servedMeanwhile = await store.findByRequestIds(
    raced.filter((r) => r.item.requestId).map((r) => ({ namespace: r.item.job.namespace, requestId: r.item.requestId })),
  );
  for (const { index, item, row } of rows) {
    if (inserted.has(row.id)) {
      outcomes[index] = { kind: "created", job: insertedJob(item.job, row) };
      continue;
    }
    const existing = item.requestId ? servedMeanwhile.get(requestKey(item.job.namespace, item.requestId)) : undefined;
    outcomes[index] = existing ? { kind: "existing", job: existing } : { kind: "nameTaken" };
  }
  // A repeated request id gets what its first item got: the job it created, or its refusal.
  for (const [i, first] of sameRequestAs) {
    const outcome = outcomes[first];
    outcomes[i] = outcome?.kind === "created" ? { kind: "existing", job: outcome.job } : outcome;
  }
  return outcomes;
}
