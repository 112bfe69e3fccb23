-- Jobs, runs and run events. State columns hold the proto enum numbers
-- (chime.v1.JobState, chime.v1.RunState, chime.v1.RunTrigger).

CREATE TABLE jobs (
  id             uuid PRIMARY KEY,
  namespace      text NOT NULL,
  name           text NOT NULL,
  queue          text NOT NULL,
  labels         jsonb NOT NULL DEFAULT '{}'::jsonb,
  -- The job definition as proto JSON: payload, schedule, retry policy, timeouts, policies, http.
  spec           jsonb NOT NULL,
  state          smallint NOT NULL CHECK (state IN (1, 2, 3)),
  next_run_time  timestamptz,
  run_count      bigint NOT NULL DEFAULT 0 CHECK (run_count >= 0),
  request_id     text,
  create_time    timestamptz NOT NULL DEFAULT now(),
  update_time    timestamptz NOT NULL DEFAULT now(),
  deleted_time   timestamptz
);

-- A name is unique among the live jobs of a namespace; a deleted job frees its name.
CREATE UNIQUE INDEX jobs_namespace_name ON jobs (namespace, name) WHERE deleted_time IS NULL;
-- Idempotent CreateJob: one job per (namespace, request id), deleted or not.
CREATE UNIQUE INDEX jobs_request_id ON jobs (namespace, request_id) WHERE request_id IS NOT NULL;
-- The scheduler reads only due, active jobs: its cost follows what is due, not what is stored.
CREATE INDEX jobs_due ON jobs (next_run_time) WHERE state = 1 AND deleted_time IS NULL AND next_run_time IS NOT NULL;
CREATE INDEX jobs_labels ON jobs USING gin (labels jsonb_path_ops);
CREATE INDEX jobs_queue ON jobs (queue, id) WHERE deleted_time IS NULL;

CREATE TABLE runs (
  id                     uuid PRIMARY KEY,
  job_id                 uuid NOT NULL REFERENCES jobs (id),
  queue                  text NOT NULL,
  scheduled_time         timestamptz NOT NULL,
  trigger                smallint NOT NULL CHECK (trigger IN (1, 2)),
  state                  smallint NOT NULL CHECK (state BETWEEN 1 AND 7),
  attempt                integer NOT NULL DEFAULT 0 CHECK (attempt >= 0),
  -- Set once the publish to JetStream is acknowledged; NULL rows are the outbox.
  dispatch_time          timestamptz,
  start_time             timestamptz,
  end_time               timestamptz,
  output                 jsonb,
  error                  text NOT NULL DEFAULT '',
  attempts               jsonb NOT NULL DEFAULT '[]'::jsonb,
  cancel_requested_time  timestamptz,
  create_time            timestamptz NOT NULL DEFAULT now(),
  update_time            timestamptz NOT NULL DEFAULT now(),
  -- At most one run per job and scheduled time.
  CONSTRAINT runs_job_scheduled_time UNIQUE (job_id, scheduled_time)
);

CREATE INDEX runs_undispatched ON runs (create_time) WHERE dispatch_time IS NULL AND state = 1;
CREATE INDEX runs_active ON runs (job_id) WHERE state IN (1, 2, 3);
CREATE INDEX runs_scheduled_time ON runs (scheduled_time DESC, id DESC);

-- Every state change of a run, with a growing cursor (WatchService resumes from it).
CREATE TABLE run_events (
  cursor    bigserial PRIMARY KEY,
  run_id    uuid NOT NULL REFERENCES runs (id),
  job_id    uuid NOT NULL,
  state     smallint NOT NULL,
  attempt   integer NOT NULL DEFAULT 0,
  time      timestamptz NOT NULL DEFAULT now(),
  error     text NOT NULL DEFAULT ''
);

CREATE INDEX run_events_run ON run_events (run_id, cursor);

-- The scheduler's leadership: one row whose epoch only grows (fencing token).
CREATE TABLE scheduler_leader (
  singleton       boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  epoch           bigint NOT NULL,
  leader_id       text NOT NULL,
  since           timestamptz NOT NULL DEFAULT now(),
  heartbeat_time  timestamptz NOT NULL DEFAULT now()
);
