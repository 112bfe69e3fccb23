-- Runs fired per second per namespace (chime.v1.NamespaceLimits.runs_per_second, run_burst; 0: none).
ALTER TABLE namespace_limits
  ADD COLUMN runs_per_second double precision NOT NULL DEFAULT 0,
  ADD COLUMN run_burst integer NOT NULL DEFAULT 0;

-- A rate-limited namespace's due jobs are claimed on their own, up to its tokens (dispatcher.ts):
-- a range scan of the namespace's due jobs, however many other namespaces have due.
CREATE INDEX jobs_namespace_due ON jobs (namespace, next_run_time) WHERE state = 1 AND deleted_time IS NULL AND next_run_time IS NOT NULL;
