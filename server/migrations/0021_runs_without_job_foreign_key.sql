-- A run's job_id no longer references jobs by a foreign key. The key's check ran for every
-- run inserted (a lookup and a KEY SHARE lock of the job's row, per run, in the dispatch
-- transaction that already holds the job's row lock): about a tenth of the dispatch's
-- Postgres time. Every writer of runs holds its job's row lock when it inserts one (the
-- dispatcher's claim, TriggerJob's lock), and the only deleter of jobs, run retention,
-- locks a job's row before it checks in a new statement that the job has no run left
-- (runs/run-retention.ts), so no run can lose its job.
ALTER TABLE runs DROP CONSTRAINT runs_job_id_fkey;
