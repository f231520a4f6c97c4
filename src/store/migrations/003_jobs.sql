-- One job queue for all background work (ADR 0006), replacing the outbox. A job is enqueued in
-- the transaction that decided it; workers take due jobs under short, renewed leases.
CREATE TABLE jobs (
  id bigserial PRIMARY KEY,
  kind text NOT NULL, -- grant.apply | grant.revoke | …
  payload jsonb NOT NULL DEFAULT '{}'::jsonb,
  -- What the job changes (a grant id): jobs of one subject run one at a time, oldest first.
  subject text,
  -- Isolation: target work is queued per connector, so one slow target bounds only its own work.
  queue text NOT NULL DEFAULT 'default',
  dedupe_key text,
  state text NOT NULL DEFAULT 'pending', -- pending | done | failed | cancelled
  due_at timestamptz NOT NULL,
  attempts int NOT NULL DEFAULT 0,
  last_error text,
  lease_owner text,
  lease_until timestamptz,
  created_at timestamptz NOT NULL,
  done_at timestamptz
);
-- The same work enqueued twice while the first is unfinished is one job.
CREATE UNIQUE INDEX jobs_dedupe ON jobs (dedupe_key) WHERE state = 'pending' AND dedupe_key IS NOT NULL;
-- Leasing walks this index in its ORDER BY, so it never sorts or scans finished jobs, whatever the
-- statistics say: only unfinished rows are in it.
CREATE INDEX jobs_due ON jobs (due_at, id) WHERE state = 'pending';
-- "Is an older job of this subject unfinished?" and the per-grant lookups of revocation.
CREATE INDEX jobs_subject ON jobs (subject, id) WHERE state = 'pending';
-- Queue figures (/metrics, report) by kind, over unfinished jobs only.
CREATE INDEX jobs_pending_kind ON jobs (kind, due_at) WHERE state = 'pending';
CREATE INDEX jobs_retrying ON jobs (queue) WHERE state = 'pending' AND last_error IS NOT NULL;
CREATE INDEX jobs_failed ON jobs (queue) WHERE state = 'failed';

INSERT INTO jobs (kind, payload, subject, queue, dedupe_key, state, due_at, attempts, last_error, created_at)
SELECT 'grant.' || o.op, jsonb_build_object('grant_id', o.grant_id), o.grant_id,
       COALESCE(a.connector, 'default'), 'grant.' || o.op || ':' || o.grant_id, 'pending',
       o.next_attempt_at, o.attempts, o.last_error, o.created_at
  FROM outbox o
  JOIN grants g ON g.id = o.grant_id
  LEFT JOIN apps a ON a.id = g.app
 WHERE o.state = 'pending'
 ORDER BY o.id;

DROP TABLE outbox;

-- revoke_failed: a revocation that has not been verified yet keeps the access live (it may still
-- be in the target), so it counts against "one live grant per identity and entitlement".
DROP INDEX grants_one_live;
CREATE UNIQUE INDEX grants_one_live ON grants (identity, entitlement)
  WHERE state IN ('provisioning', 'active', 'revoking', 'revoke_failed');
DROP INDEX grants_app_live;
CREATE INDEX grants_app_live ON grants (app) WHERE state IN ('provisioning', 'active', 'revoking', 'revoke_failed');
-- Report figures for work that is not done, without scanning history.
CREATE INDEX grants_unsettled ON grants (state) WHERE state IN ('provisioning', 'revoking', 'revoke_failed', 'failed');
