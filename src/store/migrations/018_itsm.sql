-- ITSM tickets (issue 10, ADR 0026). A ticket that came in through POST /hooks/{integration} is
-- one row, keyed by its reference (JIRA:ITSM-42, SNOW:RITM0010001): the key is what makes a
-- ticket delivered twice, or by two racing deliveries, one request. `key` is what the write-back
-- addresses (a Jira issue key, a ServiceNow sys_id). A ticket whose fields could not be made into
-- a request is `refused` with the reason (written back to it); a later update may still make one.
CREATE TABLE itsm_tickets (
  ticket text PRIMARY KEY,
  integration text NOT NULL,
  key text NOT NULL,
  request_id text REFERENCES requests (id),
  status text NOT NULL DEFAULT 'open'
    CHECK (status IN ('open', 'refused', 'closed', 'cancelled')),
  refusal text,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX itsm_tickets_request ON itsm_tickets (request_id) WHERE request_id IS NOT NULL;

-- Deliveries seen, by the system's delivery id (Jira's X-Atlassian-Webhook-Identifier) or the
-- body's digest: the same delivery again changes nothing.
CREATE TABLE itsm_deliveries (
  integration text NOT NULL,
  delivery text NOT NULL,
  ticket text NOT NULL,
  received_at timestamptz NOT NULL,
  PRIMARY KEY (integration, delivery)
);

-- How far the write-back has read the audit chain: every event after it that concerns a ticketed
-- request becomes a write-back job, in the transaction that moves it. It starts at the chain's
-- head, so a store upgraded with history writes back nothing of its past.
CREATE TABLE itsm_cursor (
  id integer PRIMARY KEY CHECK (id = 1),
  last_seq bigint NOT NULL
);
INSERT INTO itsm_cursor (id, last_seq) SELECT 1, seq FROM audit_head WHERE id = 1;
INSERT INTO itsm_cursor (id, last_seq) SELECT 1, 0 WHERE NOT EXISTS (SELECT 1 FROM itsm_cursor);
