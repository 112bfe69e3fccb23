-- WatchService: job changes share the run events' cursor sequence, so one cursor orders
-- everything a watcher sees (WatchJob interleaves a job's changes with its runs' events).
-- A trigger writes them in the same transaction as the change, whoever makes it (the api's
-- UpdateJob/PauseJob/ResumeJob/DeleteJob, the scheduler completing a job).
-- kind holds chime.v1.JobChangeKind: 1 updated, 2 paused, 3 resumed, 4 completed, 5 deleted.

CREATE TABLE job_events (
  cursor  bigint PRIMARY KEY DEFAULT nextval('run_events_cursor_seq'),
  job_id  uuid NOT NULL,
  kind    smallint NOT NULL CHECK (kind BETWEEN 1 AND 5),
  time    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX job_events_job ON job_events (job_id, cursor);
-- WatchJob reads one job's events after a cursor.
CREATE INDEX run_events_job ON run_events (job_id, cursor);

CREATE FUNCTION chime_job_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  k smallint;
BEGIN
  IF OLD.deleted_time IS NULL AND NEW.deleted_time IS NOT NULL THEN
    k := 5;
  ELSIF OLD.name IS DISTINCT FROM NEW.name OR OLD.queue IS DISTINCT FROM NEW.queue
     OR OLD.labels IS DISTINCT FROM NEW.labels OR OLD.spec IS DISTINCT FROM NEW.spec THEN
    k := 1;
  ELSIF NEW.state = 2 THEN
    k := 2;
  ELSIF NEW.state = 1 THEN
    k := 3;
  ELSIF NEW.state = 3 THEN
    k := 4;
  ELSE
    RETURN NULL;
  END IF;
  INSERT INTO job_events (job_id, kind) VALUES (NEW.id, k);
  RETURN NULL;
END;
$$;

-- Only definition, state and deletion changes: the scheduler moving next_run_time on
-- every fire writes nothing. Deferred to commit, so a change's event comes after the run
-- events of its transaction (DeleteJob: the runs' CANCELLED events, then DELETED, last).
CREATE CONSTRAINT TRIGGER jobs_watch_events AFTER UPDATE ON jobs
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
  WHEN (OLD.state IS DISTINCT FROM NEW.state
        OR OLD.deleted_time IS DISTINCT FROM NEW.deleted_time
        OR OLD.name IS DISTINCT FROM NEW.name
        OR OLD.queue IS DISTINCT FROM NEW.queue
        OR OLD.labels IS DISTINCT FROM NEW.labels
        OR OLD.spec IS DISTINCT FROM NEW.spec)
  EXECUTE FUNCTION chime_job_event();

-- Resume tokens older than this cursor are refused (OUT_OF_RANGE) instead of silently
-- skipping events: whatever prunes old run_events/job_events must raise it first, in the
-- same transaction.
CREATE TABLE event_retention (
  singleton       boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  pruned_through  bigint NOT NULL DEFAULT 0
);
INSERT INTO event_retention DEFAULT VALUES;
