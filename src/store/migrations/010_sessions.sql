-- Sign-in for people (API.md, ADR 0015). A session acts as one identity until it expires or is
-- ended. Only the SHA-256 of its cookie is kept, so a copy of this table opens no session; every
-- `serve` process reads the same rows, so any of them answers any signed-in browser.
CREATE TABLE sessions (
  id text PRIMARY KEY,
  identity text NOT NULL REFERENCES identities (id),
  method text NOT NULL,
  secret_hash bytea NOT NULL,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  ended_at timestamptz,
  CONSTRAINT sessions_method_check CHECK (method IN ('oidc', 'demo')),
  CONSTRAINT sessions_expiry_check CHECK (expires_at > created_at),
  CONSTRAINT sessions_hash_check CHECK (octet_length(secret_hash) = 32)
);
-- Expired sessions are swept by expiry.
CREATE INDEX sessions_expiry ON sessions (expires_at);

-- An OpenID Connect sign-in under way, between /auth/login and /auth/callback: found by the
-- SHA-256 of the browser's sign-in cookie, taken (deleted) once, valid for minutes.
CREATE TABLE sign_ins (
  key_hash bytea PRIMARY KEY,
  state text NOT NULL,
  nonce text NOT NULL,
  code_verifier text NOT NULL,
  redirect_uri text NOT NULL,
  return_to text NOT NULL,
  expires_at timestamptz NOT NULL,
  CONSTRAINT sign_ins_hash_check CHECK (octet_length(key_hash) = 32)
);
CREATE INDEX sign_ins_expiry ON sign_ins (expires_at);
