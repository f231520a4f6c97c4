-- Access review campaigns (ADR 0023). A campaign snapshots the grants its scope selected into
-- review_items (kind 'campaign'), each with the reviewers resolved when it was opened; an item is
-- decided once (certify or revoke), and at close or at the due date undecided items take the
-- campaign's default (applied = 'default'). A recurring campaign of reviews.yaml is opened once
-- per period: the unique index on (recurring, period_start) makes a second opening collide.
CREATE TABLE review_campaigns (
  id text PRIMARY KEY,
  name text NOT NULL,
  scope text NOT NULL,
  reviewer text NOT NULL,
  default_decision text NOT NULL,
  status text NOT NULL DEFAULT 'open',
  due_at timestamptz NOT NULL,
  created_by text NOT NULL,
  created_at timestamptz NOT NULL,
  closed_at timestamptz,
  closed_by text,
  recurring text,
  period_start timestamptz,
  CONSTRAINT review_campaigns_default_check CHECK (default_decision IN ('certify', 'revoke')),
  CONSTRAINT review_campaigns_status_check CHECK (status IN ('open', 'closed')),
  CONSTRAINT review_campaigns_closed_check CHECK ((status = 'open') = (closed_at IS NULL)),
  CONSTRAINT review_campaigns_period_check CHECK ((recurring IS NULL) = (period_start IS NULL))
);
CREATE UNIQUE INDEX review_campaigns_one_per_period ON review_campaigns (recurring, period_start)
  WHERE recurring IS NOT NULL;
-- Campaigns newest first (review list), and the open ones past their due date (the sweep).
CREATE INDEX review_campaigns_page ON review_campaigns (created_at, id);
CREATE INDEX review_campaigns_due ON review_campaigns (due_at, id) WHERE status = 'open';

-- What a reviewer decided beside the decision: their comment, the new expiry a certification set,
-- and why the item went to someone other than the campaign's reviewer rule (fallback).
ALTER TABLE review_items
  ADD COLUMN comment text,
  ADD COLUMN expires_at timestamptz,
  ADD COLUMN routed text,
  ADD CONSTRAINT review_items_decision_check CHECK (decision IN ('certify', 'revoke')),
  ADD CONSTRAINT review_items_applied_check CHECK (applied IN ('default')),
  ADD CONSTRAINT review_items_decided_check CHECK ((decision IS NULL) = (decided_at IS NULL)),
  ADD CONSTRAINT review_items_kind_check
    CHECK (kind IN ('post_event', 'mover', 'nhi_reassigned', 'adopted', 'campaign')),
  ADD CONSTRAINT review_items_campaign_fkey FOREIGN KEY (campaign_id) REFERENCES review_campaigns (id);
-- A campaign's items in id order (review show); undecided items oldest first (review items), and
-- those waiting on one reviewer.
CREATE INDEX review_items_campaign ON review_items (campaign_id, id);
CREATE INDEX review_items_open_page ON review_items (created_at, id) WHERE decision IS NULL;
CREATE INDEX review_items_reviewers ON review_items USING gin (reviewers) WHERE decision IS NULL;
