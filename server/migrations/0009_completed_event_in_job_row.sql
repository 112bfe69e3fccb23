-- Fewer writes per run, for one-off jobs: the dispatch pass that completes a job (0007)
-- updated its row and inserted its COMPLETED job event, two writes. The job row now carries
-- that event, as a run row carries its QUEUED event: completed_cursor, from the same
-- sequence, set by the pass's update (jobs/advance-jobs.ts); its time is the row's
-- update_time, which that update sets. The view job_event_log shows it beside job_events,
-- and every reader of job events reads the view. Any later update of the row (UpdateJob,
-- ResumeJob, DeleteJob) first moves the event to job_events under its cursor, in the same
-- statement (a BEFORE trigger, only called for rows that carry one), so the event keeps
-- its time and is stored once. Jobs completed before this migration keep their events in
-- job_events.
ALTER TABLE jobs ADD COLUMN completed_cursor bigint;
CREATE INDEX jobs_completed_cursor ON jobs (completed_cursor) WHERE completed_cursor IS NOT NULL;

CREATE FUNCTION chime_job_completed_event_out() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO job_events (cursor, job_id, kind, time) VALUES (OLD.completed_cursor, OLD.id, 4, OLD.update_time);
  IF NEW.completed_cursor = OLD.completed_cursor THEN
    NEW.completed_cursor := NULL;
  END IF;
  RETURN NEW;
END;
$$;

CREATE TRIGGER jobs_completed_event_out BEFORE UPDATE ON jobs
  FOR EACH ROW WHEN (OLD.completed_cursor IS NOT NULL)
  EXECUTE FUNCTION chime_job_completed_event_out();

CREATE VIEW job_event_log AS
  SELECT cursor, job_id, kind, time FROM job_events
  UNION ALL
  SELECT completed_cursor, id, 4::smallint, update_time FROM jobs
  WHERE completed_cursor > (SELECT pruned_through FROM event_retention);
