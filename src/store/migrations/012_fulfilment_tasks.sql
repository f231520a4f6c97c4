-- Fulfilment tasks (ADR 0018): the change a connector of people (type manual) was asked to make.
-- A task is opened in the outcome transaction of the grant's apply or revoke job and closed by a
-- member of its fulfilling group, whose attestation then stands for the read-back no program can
-- do. `fulfillers` is the group id as the connector named it when the task was opened.
CREATE TABLE fulfilment_tasks (
  id text PRIMARY KEY,
  grant_id text NOT NULL REFERENCES grants (id),
  op text NOT NULL,
  connector text NOT NULL,
  fulfillers text NOT NULL,
  account text NOT NULL,
  target jsonb NOT NULL,
  instructions text,
  state text NOT NULL DEFAULT 'open',
  opened_at timestamptz NOT NULL,
  due_at timestamptz NOT NULL,
  closed_at timestamptz,
  closed_by text,
  comment text,
  CONSTRAINT fulfilment_tasks_op_check CHECK (op IN ('apply', 'revoke')),
  CONSTRAINT fulfilment_tasks_state_check CHECK (state IN ('open', 'done', 'failed', 'cancelled')),
  CONSTRAINT fulfilment_tasks_closed_check CHECK ((state = 'open') = (closed_at IS NULL))
);
-- One open task per grant and change: a job run twice never opens a second.
CREATE UNIQUE INDEX fulfilment_tasks_one_open ON fulfilment_tasks (grant_id, op) WHERE state = 'open';
-- The open tasks of a fulfilling group, soonest due first (tasks --fulfiller, GET /api/v1/tasks),
-- and the overdue count of report.
CREATE INDEX fulfilment_tasks_open_due ON fulfilment_tasks (fulfillers, due_at, id) WHERE state = 'open';
CREATE INDEX fulfilment_tasks_due ON fulfilment_tasks (due_at, id) WHERE state = 'open';
CREATE INDEX fulfilment_tasks_grant ON fulfilment_tasks (grant_id);
-- A grant made or removed on a person's word: who attested it, and when. A grant verified by
-- read-back has neither.
ALTER TABLE grants ADD COLUMN attested_by text;
ALTER TABLE grants ADD COLUMN attested_at timestamptz;
ALTER TABLE grants ADD COLUMN removal_attested_by text;
