-- Consumers of the run event log that work behind the scheduler (alerts, queue stats):
-- each keeps how far it has read, advanced in the transaction that writes what it made
-- of the events, so every event is consumed exactly once whichever process does it.
--
-- Failure alerts: channels (where notifications go), rules (which run outcomes notify
-- which channel), and deliveries (each notification: pending, sent or given up), which
-- double as the alert history.
--
-- Queue stats: per queue, minute and namespace of the job, the runs that ended by outcome and histograms of
-- their durations and start lags, so a window's stats read a few rows per minute
-- however many runs it held.

CREATE TABLE alert_channels (
  id          uuid PRIMARY KEY,
  namespace   text NOT NULL,
  name        text NOT NULL,
  kind        smallint NOT NULL CHECK (kind IN (1, 2)),
  url         text NOT NULL,
  secret      text NOT NULL,
  create_time timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT alert_channels_name UNIQUE (namespace, name)
);

CREATE TABLE alert_rules (
  id               uuid PRIMARY KEY,
  namespace        text NOT NULL,
  name             text NOT NULL,
  channel_id       uuid NOT NULL REFERENCES alert_channels (id) ON DELETE CASCADE,
  condition        smallint NOT NULL CHECK (condition IN (1, 2, 3)),
  job_id           uuid,
  label_selector   text NOT NULL DEFAULT '',
  threshold        integer NOT NULL DEFAULT 0,
  min_interval_ms  integer NOT NULL,
  create_time      timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT alert_rules_name UNIQUE (namespace, name)
);
CREATE INDEX alert_rules_channel ON alert_rules (channel_id);

CREATE TABLE alert_deliveries (
  id                 bigserial PRIMARY KEY,
  rule_id            uuid NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
  channel_id         uuid NOT NULL,
  state              smallint NOT NULL CHECK (state IN (1, 2, 3)),
  event_count        integer NOT NULL DEFAULT 1,
  payload            jsonb NOT NULL,
  attempts           integer NOT NULL DEFAULT 0,
  last_error         text NOT NULL DEFAULT '',
  create_time        timestamptz NOT NULL DEFAULT now(),
  next_attempt_time  timestamptz NOT NULL DEFAULT now(),
  -- Set while a sender is sending it: events arriving meanwhile start a new delivery.
  claimed_until      timestamptz,
  sent_time          timestamptz
);
CREATE INDEX alert_deliveries_due ON alert_deliveries (next_attempt_time) WHERE state = 1;
CREATE INDEX alert_deliveries_rule ON alert_deliveries (rule_id, id DESC);

CREATE TABLE event_log_consumers (
  name   text PRIMARY KEY,
  cursor bigint NOT NULL
);
-- Start at the present: rules created from now on never alert on older history.
INSERT INTO event_log_consumers (name, cursor)
SELECT consumer, CASE WHEN is_called THEN last_value ELSE last_value - 1 END
FROM run_events_cursor_seq, (VALUES ('alerts'), ('queue_stats')) AS c (consumer);

CREATE TABLE queue_stats_minutes (
  queue            text NOT NULL,
  namespace        text NOT NULL,
  minute           timestamptz NOT NULL,
  succeeded        integer NOT NULL DEFAULT 0,
  failed           integer NOT NULL DEFAULT 0,
  cancelled        integer NOT NULL DEFAULT 0,
  timed_out        integer NOT NULL DEFAULT 0,
  -- Counts per bucket of server/src/stats/histogram.ts (same length, same bounds).
  duration_buckets integer[] NOT NULL,
  lag_buckets      integer[] NOT NULL,
  PRIMARY KEY (queue, minute, namespace)
);
