-- The bytes each event's hash covers after prev_hash "\n": canonical({action, actor, at, details,
-- refs, seq, subject}) exactly as appendAudit hashed it (ADR 0040). verify hashes them as stored
-- instead of rebuilding them from the columns, and has the server check that the columns say
-- what the body says. Events written before this migration have none and verify as before.
ALTER TABLE audit_events ADD COLUMN body text;

-- Every event from here on carries its body, so a body missing after one present is an
-- alteration, never a writer that did not know the column (an older node's append fails here
-- instead, and its staged events wait for a sequencer that writes bodies). NOT VALID: the
-- events already written keep verifying from their columns.
ALTER TABLE audit_events ADD CONSTRAINT audit_events_body CHECK (body IS NOT NULL) NOT VALID;
