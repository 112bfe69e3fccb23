import { JobState } from "@chime/sdk/gen/job_pb";
import { JobChangeKind } from "@chime/sdk/gen/watch_service_pb";
import type pg from "pg";

/** A fired job's schedule after a dispatch pass: its next fire time, state and run count. */
export interface JobAdvance {
  id: string;
  next: Date | null;
  state: number;
  runCount: number;
}

/**
 * Moves the fired (active) jobs' schedules on, one statement for a dispatch pass, and writes
 * the COMPLETED job event of each job that fired its last time. The definition is not
 * touched (definition_version stays), so the leader's parsed copies stay valid, and the
 * jobs_watch_events trigger leaves these updates to this statement (migration 0007): a job
 * that merely fired has no event, and a burst of one-off jobs costs one insert, not a
 * trigger call per job.
 */
export async function advanceJobs(client: pg.PoolClient, advances: JobAdvance[]): Promise<void> {
  if (advances.length === 0) return;
  await client.query(
    `WITH advanced AS (
       UPDATE jobs j SET next_run_time = v.next_run_time, state = v.state, run_count = v.run_count, update_time = now()
       FROM unnest($1::uuid[], $2::timestamptz[], $3::smallint[], $4::bigint[]) AS v(id, next_run_time, state, run_count)
       WHERE j.id = v.id
       RETURNING j.id, j.state
     )
     INSERT INTO job_events (job_id, kind) SELECT id, ${JobChangeKind.COMPLETED} FROM advanced WHERE state = ${JobState.COMPLETED}`,
    [advances.map((u) => u.id), advances.map((u) => u.next), advances.map((u) => u.state), advances.map((u) => u.runCount)],
  );
}
