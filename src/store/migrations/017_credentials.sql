-- Credentials for non-human identities (ADR 0025): an entitlement may say its connector issues a
-- credential for the holder's account, rotated every `credential_rotation` seconds.
ALTER TABLE entitlements ADD COLUMN credential_rotation int;

-- One row per credential asked for. The secret is never stored: only a fingerprint (the first
-- 16 hex digits of its SHA-256) to tell credentials apart, and when it stops being valid.
CREATE TABLE credentials (
  id text PRIMARY KEY,
  grant_id text NOT NULL REFERENCES grants (id),
  identity text NOT NULL,
  connector text NOT NULL,
  account text NOT NULL,
  state text NOT NULL,
  fingerprint text NOT NULL,
  requested_by text NOT NULL,
  requested_at timestamptz NOT NULL,
  issued_at timestamptz,
  -- When the target stops accepting it: the rotation period, or the grant's expiry if sooner.
  valid_until timestamptz NOT NULL,
  -- When the rotation period has passed: `report` counts live credentials past it.
  rotate_by timestamptz NOT NULL,
  error text,
  CONSTRAINT credentials_state_check
    CHECK (state IN ('issuing', 'issued', 'failed', 'superseded'))
);
-- One issue at a time per grant: two would race to set the account's password.
CREATE UNIQUE INDEX credentials_one_issuing ON credentials (grant_id) WHERE state = 'issuing';
CREATE INDEX credentials_grant ON credentials (grant_id, requested_at);
CREATE INDEX credentials_live ON credentials (rotate_by) WHERE state = 'issued';
