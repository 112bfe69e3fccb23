import type pg from "pg";

/** A fired job's schedule after a dispatch pass: its next fire time, state and run count. */
export interface JobAdvance {
  id: string;
  next: Date | null;
  state: number;
  runCount: number;
}

/**
 * Moves the fired jobs' schedules on, one statement for a dispatch pass. The definition is
 * not touched (definition_version stays), so the leader's parsed copies stay valid and no
 * job event is written for a job that merely fired (see the jobs_watch_events trigger).
 */
export async function advanceJobs(client: pg.PoolClient, advances: JobAdvance[]): Promise<void> {
  if (advances.length === 0) return;
  await client.query(
    `UPDATE jobs j SET next_run_time = v.next_run_time, state = v.state, run_count = v.run_count, update_time = now()
     FROM unnest($1::uuid[], $2::timestamptz[], $3::smallint[], $4::bigint[]) AS v(id, next_run_time, state, run_count)
     WHERE j.id = v.id`,
    [advances.map((u) => u.id), advances.map((u) => u.next), advances.map((u) => u.state), advances.map((u) => u.runCount)],
  );
}
