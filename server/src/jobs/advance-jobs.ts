import { JobState } from "@chime/sdk/gen/job_pb";
import type pg from "pg";

/** A fired job's schedule after a dispatch pass: its next fire time, state and run count. */
export interface JobAdvance {
  id: string;
  next: Date | null;
  state: number;
  runCount: number;
}

/**
 * Moves the fired (active) jobs' schedules on, one statement for a dispatch pass, and gives
 * each job that fired its last time its COMPLETED job event, carried by the row itself
 * (completed_cursor, migration 0009: the view job_event_log shows it), so completing a
 * one-off job costs this one row write. The definition is not touched (definition_version
 * stays), so the leader's parsed copies stay valid, and the jobs_watch_events trigger
 * leaves these updates alone (migration 0007): a job that merely fired has no event.
 */
export async function advanceJobs(client: pg.PoolClient, advances: JobAdvance[]): Promise<void> {
  if (advances.length === 0) return;
  await client.query(
    `UPDATE jobs j SET next_run_time = v.next_run_time, state = v.state, run_count = v.run_count, update_time = now(),
       completed_cursor = CASE WHEN v.state = ${JobState.COMPLETED} THEN nextval('run_events_cursor_seq') ELSE j.completed_cursor END
     FROM unnest($1::uuid[], $2::timestamptz[], $3::smallint[], $4::bigint[]) AS v(id, next_run_time, state, run_count)
     WHERE j.id = v.id`,
    [advances.map((u) => u.id), advances.map((u) => u.next), advances.map((u) => u.state), advances.map((u) => u.runCount)],
  );
}
