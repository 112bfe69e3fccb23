-- A job the scheduler completes (a one-off job once its run is written, a schedule that
-- has fired its last time) got its COMPLETED job event from the row trigger, one plpgsql
-- call and one insert per job at commit. The dispatcher now writes those events itself,
-- one statement per pass (jobs/advance-jobs.ts). Its updates are told apart by an
-- unchanged definition_version: every API change bumps it, the scheduler never does.
DROP TRIGGER jobs_watch_events ON jobs;
CREATE CONSTRAINT TRIGGER jobs_watch_events AFTER UPDATE ON jobs
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
  WHEN ((OLD.state IS DISTINCT FROM NEW.state
         OR OLD.deleted_time IS DISTINCT FROM NEW.deleted_time
         OR OLD.name IS DISTINCT FROM NEW.name
         OR OLD.queue IS DISTINCT FROM NEW.queue
         OR OLD.labels IS DISTINCT FROM NEW.labels
         OR OLD.spec IS DISTINCT FROM NEW.spec)
        AND NOT (OLD.state = 1 AND NEW.state = 3 AND OLD.definition_version = NEW.definition_version
                 AND OLD.deleted_time IS NOT DISTINCT FROM NEW.deleted_time))
  EXECUTE FUNCTION chime_job_event();
