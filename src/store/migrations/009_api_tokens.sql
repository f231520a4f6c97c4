-- API tokens (API.md, ADR 0012): a token acts as one identity, within its scopes, until it
-- expires or is revoked. Only the SHA-256 of the secret is kept: the secret is shown once.
CREATE TABLE api_tokens (
  id text PRIMARY KEY,
  identity text NOT NULL REFERENCES identities (id),
  scopes text[] NOT NULL,
  secret_hash bytea NOT NULL,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz,
  last_used_at timestamptz,
  created_by text NOT NULL,
  CONSTRAINT api_tokens_scopes_check CHECK (
    cardinality(scopes) > 0
    AND scopes <@ ARRAY['read', 'request', 'approve', 'review', 'admin', 'audit', 'itsm', 'metrics']::text[]
  ),
  CONSTRAINT api_tokens_expiry_check CHECK (expires_at > created_at),
  CONSTRAINT api_tokens_hash_check CHECK (octet_length(secret_hash) = 32)
);
-- token list reads by creation, one keyset page at a time.
CREATE INDEX api_tokens_page ON api_tokens (created_at, id);
