-- Failure-streak auto-pause (Job.pause_after_failures) and queue stall alerts.
--
-- jobs.auto_pause: why the server paused the job (failure_streak, last_run_id, time), null
-- unless the job is paused by its streak; jobs.streak_since: when the job was last resumed,
-- so a streak counts only runs scheduled after it (resuming starts a new streak).
ALTER TABLE jobs ADD COLUMN auto_pause jsonb, ADD COLUMN streak_since timestamptz;
-- The auto-pause consumer skips its work while no job asks for it: a cheap check.
CREATE INDEX jobs_pause_after_failures ON jobs (id) WHERE spec ? 'pauseAfterFailures' AND deleted_time IS NULL;

-- The auto-pause consumer of the run event log starts at the present, as the others did.
INSERT INTO event_log_consumers (name, cursor)
SELECT 'auto_pause', CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM run_events_cursor_seq;

-- Job event kind 6: paused by the server after a failure streak (JOB_CHANGE_KIND_AUTO_PAUSED).
ALTER TABLE job_events DROP CONSTRAINT job_events_kind_check;
ALTER TABLE job_events ADD CONSTRAINT job_events_kind_check CHECK (kind BETWEEN 1 AND 6);

CREATE OR REPLACE FUNCTION chime_job_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  k smallint;
BEGIN
  IF OLD.deleted_time IS NULL AND NEW.deleted_time IS NOT NULL THEN
    k := 5;
  ELSIF OLD.name IS DISTINCT FROM NEW.name OR OLD.queue IS DISTINCT FROM NEW.queue
     OR OLD.labels IS DISTINCT FROM NEW.labels OR OLD.spec IS DISTINCT FROM NEW.spec THEN
    k := 1;
  ELSIF NEW.state = 2 AND NEW.auto_pause IS NOT NULL THEN
    k := 6;
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

-- Alert conditions 4 (JOB_AUTO_PAUSED) and 5 (QUEUE_STALLED, with its queue and threshold).
ALTER TABLE alert_rules DROP CONSTRAINT alert_rules_condition_check;
ALTER TABLE alert_rules ADD CONSTRAINT alert_rules_condition_check CHECK (condition BETWEEN 1 AND 5);
ALTER TABLE alert_rules ADD COLUMN stall_after_ms integer NOT NULL DEFAULT 0, ADD COLUMN queue text NOT NULL DEFAULT '';

-- A QUEUE_STALLED rule's current stall: since when runs wait with no worker, and whether
-- it was notified (once per stall; the row goes when the stall ends).
CREATE TABLE queue_stalls (
  rule_id   uuid PRIMARY KEY REFERENCES alert_rules (id) ON DELETE CASCADE,
  since     timestamptz NOT NULL,
  notified  boolean NOT NULL DEFAULT false
);
