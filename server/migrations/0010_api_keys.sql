-- API keys per namespace with a role (chime.v1.AdminService). The secret is random and
-- stored only as its SHA-256 (a 256-bit random secret needs no slow hash: it cannot be guessed).
CREATE TABLE api_keys (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text NOT NULL,
  -- NULL: every namespace.
  namespace text,
  -- chime.v1.ApiKeyRole
  role smallint NOT NULL CHECK (role BETWEEN 1 AND 3),
  secret_hash bytea NOT NULL UNIQUE,
  create_time timestamptz NOT NULL DEFAULT now(),
  expire_time timestamptz,
  revoke_time timestamptz,
  -- The key that created it; NULL for CHIME_API_TOKEN.
  created_by uuid
);

CREATE INDEX api_keys_namespace ON api_keys (namespace);
