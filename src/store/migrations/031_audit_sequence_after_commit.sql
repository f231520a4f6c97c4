-- The sequencer run a writer sends with its COMMIT, in one message (ADR 0047). The message's
-- error must be the COMMIT's alone, so that the writer knows whether its change committed: this
-- never raises. A run that fails (the head locked past a timeout, a cancel) chains nothing and
-- says so (`chained` 0, `head_seq` null); the events stay staged for the next run, as when a
-- writer's separate run failed.
CREATE FUNCTION audit_sequence_quietly(max_rows integer)
  RETURNS TABLE (chained bigint, head_seq bigint, head_hash text, legacy boolean)
  LANGUAGE plpgsql AS $$
BEGIN
  BEGIN
    SELECT s.chained, s.head_seq, s.head_hash, s.legacy INTO chained, head_seq, head_hash, legacy
      FROM audit_sequence(max_rows, false) s;
  EXCEPTION WHEN OTHERS OR query_canceled THEN
    chained := 0;
    head_seq := NULL;
    head_hash := NULL;
    legacy := false;
  END;
  RETURN NEXT;
END
$$;
