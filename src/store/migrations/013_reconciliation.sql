-- Reconciliation (PRODUCT.md section 6, ADR 0019): each run, what it covered per connector, and
-- its findings. A dry run writes none of these.
CREATE TABLE reconcile_runs (
  id text PRIMARY KEY,
  -- The connector asked for; null: every connector.
  connector text,
  trigger text NOT NULL,
  actor text NOT NULL,
  status text NOT NULL,
  started_at timestamptz NOT NULL,
  finished_at timestamptz,
  CONSTRAINT reconcile_runs_status_check CHECK (status IN ('running', 'complete', 'partial')),
  CONSTRAINT reconcile_runs_trigger_check CHECK (trigger IN ('manual', 'schedule'))
);
CREATE INDEX reconcile_runs_page ON reconcile_runs (started_at, id);

-- One row per connector a run looked at: `complete` (listed to the end), `failed` (its target
-- failed mid-run: what it found before is kept, nothing after is known) or `not_covered` (it
-- cannot list its assignments). The latest row per connector is its current state of drift.
CREATE TABLE reconcile_coverage (
  -- Written in order: the latest row is the highest n (a simulated clock may not move).
  n bigint GENERATED ALWAYS AS IDENTITY,
  run_id text NOT NULL REFERENCES reconcile_runs (id),
  connector text NOT NULL,
  status text NOT NULL,
  assignments bigint NOT NULL DEFAULT 0,
  grants bigint NOT NULL DEFAULT 0,
  error text,
  finished_at timestamptz NOT NULL,
  PRIMARY KEY (run_id, connector),
  CONSTRAINT reconcile_coverage_status_check CHECK (status IN ('complete', 'failed', 'not_covered'))
);
CREATE INDEX reconcile_coverage_latest ON reconcile_coverage (connector, n);

CREATE TABLE reconcile_findings (
  id text PRIMARY KEY,
  run_id text NOT NULL REFERENCES reconcile_runs (id),
  seq int NOT NULL,
  connector text NOT NULL,
  kind text NOT NULL,
  account text NOT NULL,
  target jsonb NOT NULL,
  identity text,
  entitlement text,
  grant_id text,
  action text NOT NULL,
  created_at timestamptz NOT NULL,
  CONSTRAINT reconcile_findings_kind_check
    CHECK (kind IN ('unmanaged', 'missing', 'revocation_failed', 'orphaned')),
  CONSTRAINT reconcile_findings_action_check CHECK (action IN ('reported', 'remediated', 'adopted'))
);
CREATE UNIQUE INDEX reconcile_findings_run ON reconcile_findings (run_id, seq);
CREATE INDEX reconcile_findings_connector ON reconcile_findings (connector, run_id);

-- The grants side of the merge: one target's grants in account order (identity ids compared as
-- bytes, as listings are), one index range read per page.
CREATE INDEX grants_reconcile ON grants (entitlement, identity COLLATE "C", id)
  WHERE state IN ('provisioning', 'active', 'revoking', 'revoke_failed', 'revoked');
