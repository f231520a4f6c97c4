-- Gatehouse core schema. Migrations are immutable: change the schema with a new numbered file.

CREATE TABLE meta (
  key text PRIMARY KEY,
  value text NOT NULL
);

-- The applied configuration, as parsed (settings, policies): the engine prepares its policy set
-- from here once per apply, keyed by config_hash.
CREATE TABLE config_state (
  id int PRIMARY KEY CHECK (id = 1),
  config_hash text NOT NULL,
  settings jsonb NOT NULL,
  applied_at timestamptz NOT NULL
);

CREATE TABLE identities (
  id text PRIMARY KEY,
  kind text NOT NULL,
  status text NOT NULL,
  display_name text NOT NULL DEFAULT '',
  department text NOT NULL DEFAULT '',
  title text NOT NULL DEFAULT '',
  manager text NOT NULL DEFAULT '',
  owner text NOT NULL DEFAULT '',
  attributes jsonb NOT NULL DEFAULT '{}',
  source text NOT NULL DEFAULT 'config',
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
-- Role fit reads peers (same department and title) by index, never by scanning everyone.
CREATE INDEX identities_peers ON identities (department, title) WHERE status = 'active';
CREATE INDEX identities_owner ON identities (owner) WHERE owner <> '';
CREATE INDEX identities_manager ON identities (manager) WHERE manager <> '';

CREATE TABLE groups (
  id text PRIMARY KEY
);
CREATE TABLE group_members (
  group_id text NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
  identity_id text NOT NULL,
  PRIMARY KEY (group_id, identity_id)
);

CREATE TABLE apps (
  id text PRIMARY KEY,
  name text NOT NULL,
  risk text NOT NULL,
  owner text NOT NULL,
  connector text NOT NULL,
  licence_seats jsonb NOT NULL DEFAULT '{}'
);

CREATE TABLE entitlements (
  id text PRIMARY KEY,
  app text NOT NULL REFERENCES apps (id),
  risk text NOT NULL,
  privileged boolean NOT NULL,
  max_duration int,
  default_duration int,
  standing boolean NOT NULL,
  kinds text[] NOT NULL,
  requires_ticket boolean NOT NULL,
  break_glass boolean NOT NULL,
  approval jsonb,
  licence_tier text,
  target jsonb NOT NULL,
  retired boolean NOT NULL DEFAULT false
);
CREATE INDEX entitlements_app ON entitlements (app);

CREATE TABLE sod_rules (
  id text PRIMARY KEY,
  description text NOT NULL,
  conflict jsonb NOT NULL,
  on_conflict text NOT NULL,
  exception jsonb
);

CREATE TABLE birthright_rules (
  idx int PRIMARY KEY,
  match jsonb NOT NULL,
  grants text[] NOT NULL,
  duration int,
  standing boolean NOT NULL
);

CREATE TABLE policies (
  id text PRIMARY KEY,
  text text NOT NULL,
  reason text,
  file text NOT NULL,
  line int NOT NULL
);

CREATE TABLE connectors (
  name text PRIMARY KEY,
  type text NOT NULL,
  settings jsonb NOT NULL
);

CREATE TABLE requests (
  id text PRIMARY KEY,
  requester text NOT NULL,
  beneficiary text NOT NULL,
  entitlement text NOT NULL,
  justification text NOT NULL,
  duration int,
  ticket text,
  emergency boolean NOT NULL DEFAULT false,
  kind text NOT NULL DEFAULT 'access', -- access | extend | birthright
  extends_grant text,
  status text NOT NULL,
  decision jsonb NOT NULL,
  created_at timestamptz NOT NULL,
  lapses_at timestamptz,
  closed_at timestamptz
);
CREATE INDEX requests_pending ON requests (beneficiary, entitlement) WHERE status = 'pending_approval';
CREATE INDEX requests_lapse ON requests (lapses_at) WHERE status = 'pending_approval';
CREATE INDEX requests_status ON requests (status, created_at);
CREATE INDEX requests_extends ON requests (extends_grant) WHERE extends_grant IS NOT NULL;

CREATE TABLE approval_stages (
  request_id text NOT NULL REFERENCES requests (id),
  idx int NOT NULL,
  rule text NOT NULL,
  approvers text[] NOT NULL,
  min_approvals int NOT NULL,
  fallback boolean NOT NULL DEFAULT false,
  state text NOT NULL, -- waiting | pending | approved | rejected | lapsed
  PRIMARY KEY (request_id, idx)
);
CREATE INDEX approval_stages_pending ON approval_stages USING gin (approvers) WHERE state = 'pending';

CREATE TABLE approvals (
  request_id text NOT NULL REFERENCES requests (id),
  stage_idx int NOT NULL,
  approver text NOT NULL,
  verdict text NOT NULL, -- approve | reject
  comment text NOT NULL DEFAULT '',
  at timestamptz NOT NULL,
  PRIMARY KEY (request_id, stage_idx, approver)
);

CREATE TABLE grants (
  id text PRIMARY KEY,
  identity text NOT NULL,
  entitlement text NOT NULL,
  app text NOT NULL,
  owner text NOT NULL,
  request_id text,
  trigger text NOT NULL,
  emergency boolean NOT NULL DEFAULT false,
  state text NOT NULL,
  duration int, -- seconds from verified activation; null = standing
  created_at timestamptz NOT NULL,
  granted_at timestamptz, -- verified active in the target
  expires_at timestamptz,
  verified_at timestamptz,
  revoke_trigger text,
  revoke_reason text,
  revoke_requested_at timestamptz,
  revoked_at timestamptz,
  revocation_latency_seconds double precision,
  failure text
);
CREATE INDEX grants_identity ON grants (identity, state);
CREATE INDEX grants_request ON grants (request_id);
CREATE INDEX grants_entitlement ON grants (entitlement, state);
CREATE INDEX grants_app_live ON grants (app) WHERE state IN ('provisioning', 'active', 'revoking');
CREATE INDEX grants_expiry ON grants (expires_at) WHERE state = 'active';
-- At most one live grant per identity and entitlement.
CREATE UNIQUE INDEX grants_one_live ON grants (identity, entitlement)
  WHERE state IN ('provisioning', 'active', 'revoking');

-- The outbox: work for the targets, written in the same transaction as the decision.
-- Workers take rows with leases (FOR UPDATE SKIP LOCKED), so several nodes never apply one twice.
CREATE TABLE outbox (
  id bigserial PRIMARY KEY,
  grant_id text NOT NULL REFERENCES grants (id),
  op text NOT NULL, -- apply | revoke
  state text NOT NULL, -- pending | done | failed
  attempts int NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL,
  lease_owner text,
  lease_until timestamptz,
  last_error text,
  created_at timestamptz NOT NULL,
  done_at timestamptz
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE state = 'pending';

-- Items that a person must look at: break-glass post-event reviews, mover reviews, reassigned
-- non-human identities. Review campaigns will own items too.
CREATE TABLE review_items (
  id text PRIMARY KEY,
  campaign_id text,
  kind text NOT NULL, -- post_event | mover | nhi_reassigned | adopted
  grant_id text,
  identity text NOT NULL,
  entitlement text,
  reviewers text[] NOT NULL,
  note text NOT NULL DEFAULT '',
  due_at timestamptz,
  decision text,
  decided_by text,
  decided_at timestamptz,
  applied text,
  created_at timestamptz NOT NULL
);
CREATE INDEX review_items_open ON review_items (kind) WHERE decision IS NULL;

-- Append-only, hash-chained audit log. audit_head serialises writers so the chain has no forks.
CREATE TABLE audit_events (
  seq bigint PRIMARY KEY,
  at timestamptz NOT NULL,
  actor text NOT NULL,
  action text NOT NULL,
  subject text NOT NULL,
  details jsonb NOT NULL,
  refs text[] NOT NULL, -- every request and grant id the event concerns: audit trace reads these
  prev_hash text NOT NULL,
  hash text NOT NULL
);
CREATE INDEX audit_refs ON audit_events USING gin (refs);
CREATE TABLE audit_head (
  id int PRIMARY KEY CHECK (id = 1),
  seq bigint NOT NULL,
  hash text NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, 'genesis');
