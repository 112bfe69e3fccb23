-- Run retention per namespace and per job (Job.run_retention, NamespaceLimits.run_retention).
--
-- jobs.run_retention_ms: the job's own retention, read by run retention (runs/run-retention.ts)
-- for each run it considers; NULL inherits. Generated from the definition (spec.runRetention,
-- proto3 JSON such as "864000s" or "1.500s"), so every writer of spec keeps it true without
-- writing it: job inserts stay one column list.
ALTER TABLE jobs ADD COLUMN run_retention_ms bigint
  GENERATED ALWAYS AS ((rtrim(spec ->> 'runRetention', 's')::numeric * 1000)::bigint) STORED;
-- The smallest retention in force bounds run retention's scan: a cheap min() over the few jobs that set one.
CREATE INDEX jobs_run_retention ON jobs (run_retention_ms) WHERE run_retention_ms IS NOT NULL;

-- namespace_limits.run_retention_ms: the namespace's retention for jobs that set none (0: the server default).
ALTER TABLE namespace_limits ADD COLUMN run_retention_ms bigint NOT NULL DEFAULT 0 CHECK (run_retention_ms >= 0);
