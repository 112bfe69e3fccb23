-- Fewer writes per run, continued (0006 put the QUEUED event in the run row). The run row
-- also carries the RUNNING event of its current attempt (start_cursor) and the event that
-- ended that attempt or the run (end_cursor: RETRY_WAIT, SUCCEEDED, FAILED, TIMED_OUT or a
-- worker's CANCELLED), cursors from the same sequence taken by the ingester's update. Their
-- other fields are read from the row: the attempt, the state, and the current attempt's
-- entry in `attempts` (its startTime; its endTime and error). run-store.ts sets a cursor
-- only when the row shows exactly that event, and moves an event to run_events, with its
-- cursor, in the transaction that changes what the row shows (a retry or a lost attempt
-- starts attempt a+1, a cancellation ends a waiting run): every event is stored once,
-- always under the same cursor. Runs written before this migration keep their events in
-- run_events (both cursors stay NULL).
ALTER TABLE runs ADD COLUMN start_cursor bigint, ADD COLUMN end_cursor bigint;
CREATE INDEX runs_start_cursor ON runs (start_cursor) WHERE start_cursor IS NOT NULL;
CREATE INDEX runs_end_cursor ON runs (end_cursor) WHERE end_cursor IS NOT NULL;

-- A moved event keeps its cursor: the insert names it.
CREATE OR REPLACE VIEW run_event_log AS
  SELECT cursor, run_id, job_id, state, attempt, time, error FROM run_events
  UNION ALL
  SELECT queued_cursor, id, job_id, 1::smallint, 0, create_time, ''::text FROM runs
  WHERE queued_cursor > (SELECT pruned_through FROM event_retention)
  UNION ALL
  SELECT start_cursor, id, job_id, 2::smallint, attempt, (attempts->-1->>'startTime')::timestamptz, ''::text FROM runs
  WHERE start_cursor > (SELECT pruned_through FROM event_retention)
  UNION ALL
  SELECT end_cursor, id, job_id, state, attempt, (attempts->-1->>'endTime')::timestamptz, coalesce(attempts->-1->>'error', '') FROM runs
  WHERE end_cursor > (SELECT pruned_through FROM event_retention);
