-- Each event's columns say what its hashed body says (ADR 0052), held by the server on every
-- write instead of re-checked by audit verify on every read: verify trusts the rows only while
-- this constraint stands, validated and exactly as written here, and checks each row itself
-- otherwise. The body's seven fields and the columns are compared as one jsonb object (one parse
-- of the body, the same judgement verify made: strings exactly, numbers by value, keys as a set).
-- An `at` outside years 1-9999, where the body's rendering (toISOString) and the server's differ,
-- is let through and judged by verify from its row. A null body (events before migration 028)
-- leaves the check null, which passes: those events verify from their columns.
ALTER TABLE audit_events ADD CONSTRAINT audit_events_agree CHECK (
  date_part('year', at AT TIME ZONE 'UTC') NOT BETWEEN 1 AND 9999
  OR body::jsonb = jsonb_build_object('action', action, 'actor', actor,
       'at', to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), 'details', details,
       'refs', to_jsonb(refs), 'seq', seq, 'subject', subject)
) NOT VALID;

-- The events already written are checked once here. A log that holds an event whose columns
-- disagree with its body (or a body that is not JSON) keeps the constraint unvalidated, so the
-- upgrade goes on and verify keeps checking every row and reports that event.
DO $$
BEGIN
  ALTER TABLE audit_events VALIDATE CONSTRAINT audit_events_agree;
EXCEPTION WHEN check_violation OR data_exception THEN
  RAISE WARNING 'audit_events: an event''s columns disagree with its body; audit verify checks every event until the log is repaired';
END
$$;
