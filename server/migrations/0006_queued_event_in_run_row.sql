-- Fewer writes per run. A run's first state change, QUEUED, is no longer a run_events row
-- of its own: the run row carries its cursor (queued_cursor, from the same sequence, taken
-- at insert), and the view run_event_log shows it beside the other events. Every reader of
-- run events reads the view. Runs written before this migration keep their QUEUED rows in
-- run_events (their queued_cursor stays NULL), so no event is lost or shown twice.
ALTER TABLE runs ADD COLUMN queued_cursor bigint;
ALTER TABLE runs ALTER COLUMN queued_cursor SET DEFAULT nextval('run_events_cursor_seq');
CREATE INDEX runs_queued_cursor ON runs (queued_cursor) WHERE queued_cursor IS NOT NULL;

-- Runs are kept when their events are pruned: a QUEUED event at or below
-- event_retention.pruned_through is pruned too, as far as the view shows.
CREATE VIEW run_event_log AS
  SELECT cursor, run_id, job_id, state, attempt, time, error FROM run_events
  UNION ALL
  SELECT queued_cursor, id, job_id, 1::smallint, 0, create_time, ''::text FROM runs
  WHERE queued_cursor > (SELECT pruned_through FROM event_retention);

-- Each event insert checked its run through this foreign key (an index probe and a row
-- lock on the run, per event); every writer of events is run-store.ts, in the transaction
-- that wrote or locked the run, and events outlive nothing (runs are never deleted).
ALTER TABLE run_events DROP CONSTRAINT run_events_run_id_fkey;
-- No query reads events by run id alone (watchers read by cursor, or by job).
DROP INDEX run_events_run;
