-- The audit log and per-namespace limits.
-- Every change made through the API (chime.v1.AdminService/ListAuditEntries). Append-only:
-- the trigger refuses updates and deletes, so an entry, once written, stays as it was.
CREATE TABLE audit_log (
  id bigserial PRIMARY KEY,
  time timestamptz NOT NULL DEFAULT now(),
  key_id uuid,
  key_name text NOT NULL,
  action text NOT NULL,
  target text NOT NULL,
  namespace text NOT NULL,
  address text NOT NULL
);

CREATE INDEX audit_log_namespace ON audit_log (namespace, id);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only';
END;
$$;

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

-- Per-namespace limits set through chime.v1.AdminService/SetNamespaceLimits (0: none).
CREATE TABLE namespace_limits (
  namespace text PRIMARY KEY,
  calls_per_second double precision NOT NULL DEFAULT 0,
  call_burst integer NOT NULL DEFAULT 0,
  max_jobs bigint NOT NULL DEFAULT 0
);
