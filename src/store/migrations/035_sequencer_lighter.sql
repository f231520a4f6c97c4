-- The sequencer's work on the server, lighter (ADR 0054). Under eight callers it was a third of the
-- server's CPU, and most of that was not chaining: its statements planned afresh on every run
-- (their arrays and LIMIT are parameters whose values a custom plan sizes, so the plan cache
-- kept choosing custom plans), and a trigger function called once per drained row, each call
-- saving and restoring its two settings.
--
-- The function's statements keep one plan per connection: with scans off (migration 029) the
-- plans are the index walks whatever the values.
ALTER FUNCTION audit_sequence(integer, boolean) SET plan_cache_mode = force_generic_plan;

-- Rows still leave the stage only once chained, now checked once per DELETE over the rows it
-- removed (a transition table) instead of once per row: raising here undoes the whole statement,
-- as refusing its first unchained row did.
DROP TRIGGER audit_stage_drain ON audit_stage;
DROP FUNCTION audit_stage_drain_only();
CREATE FUNCTION audit_stage_drained() RETURNS trigger LANGUAGE plpgsql
  SET enable_seqscan = off SET enable_bitmapscan = off AS $$
DECLARE
  unchained bigint;
BEGIN
  -- A correlated subquery, not NOT EXISTS: that would be planned as an anti-join free to read
  -- all of audit_events; this is one probe of its stage_id index for each removed row.
  SELECT o.id INTO unchained FROM old_rows o
   WHERE (SELECT e.stage_id FROM audit_events e WHERE e.stage_id = o.id) IS NULL
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'audit_stage rows leave only once chained: DELETE of % refused', unchained
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER audit_stage_drain AFTER DELETE ON audit_stage REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION audit_stage_drained();
