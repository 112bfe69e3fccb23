-- Schedule events: why a job did not run on time. Each row is one fire decision of the
-- scheduler (or a resume) that did not produce an on-time run, written in the same
-- transaction as the decision (the outbox rule). Its cursor comes from the run events'
-- sequence, so WatchJob streams it in order with the job's other events and resumes past
-- it like any other. Fire times decided together in one pass share one row (count, first
-- and last scheduled time): a long outage of a per-second job writes one row, not thousands.
-- reason holds chime.v1.ScheduleEventReason (1 overlap skipped .. 7 paused).
CREATE TABLE schedule_events (
  cursor                bigint PRIMARY KEY DEFAULT nextval('run_events_cursor_seq'),
  job_id                uuid NOT NULL,
  reason                smallint NOT NULL CHECK (reason BETWEEN 1 AND 7),
  count                 integer NOT NULL CHECK (count >= 1),
  first_scheduled_time  timestamptz NOT NULL,
  last_scheduled_time   timestamptz NOT NULL,
  time                  timestamptz NOT NULL
);

-- WatchJob and ListJobEvents read one job's events after a cursor.
CREATE INDEX schedule_events_job ON schedule_events (job_id, cursor);
