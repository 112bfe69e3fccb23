-- Scheduler support: a run held back by the BUFFER_ONE overlap policy is not published
-- until its job has no other active run; the leader row records the backend holding the
-- leadership lock, so a challenger can evict a leader that stopped heartbeating.

ALTER TABLE runs ADD COLUMN held boolean NOT NULL DEFAULT false;
ALTER TABLE scheduler_leader ADD COLUMN backend_pid integer;

-- The reconciler's scan: runs written but never confirmed published.
DROP INDEX runs_undispatched;
CREATE INDEX runs_undispatched ON runs (create_time) WHERE dispatch_time IS NULL AND state = 1;
