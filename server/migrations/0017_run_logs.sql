-- The lines handlers log onto their runs (and the http executor's response record), per
-- attempt. Written only for attempts that logged: a run whose handler logs nothing has no
-- row here. Deleted with their run (run retention).
CREATE TABLE run_logs (
  run_id   uuid NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  attempt  integer NOT NULL CHECK (attempt >= 1),
  seq      integer NOT NULL CHECK (seq >= 1),
  level    smallint NOT NULL CHECK (level BETWEEN 1 AND 5),
  time     timestamptz NOT NULL,
  message  text NOT NULL,
  fields   jsonb,
  -- What the line counts against the run's character limit (run-log-bounds.ts).
  chars    integer NOT NULL,
  PRIMARY KEY (run_id, attempt, seq)
);
