-- The leader's wall clock as measured against Postgres' at each heartbeat (the scheduler
-- decides with Postgres' time; GetSchedulerStatus reports a leader whose clock is off).
ALTER TABLE scheduler_leader ADD COLUMN clock_skew_ms double precision;
ALTER TABLE scheduler_leader ADD COLUMN clock_skewed boolean NOT NULL DEFAULT false;
