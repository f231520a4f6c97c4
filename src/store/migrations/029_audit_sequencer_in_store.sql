-- The sequencer of ADR 0032 as one statement (ADR 0042). A writer stages each event with the text
-- its hash covers, rendered by the chain code (canonical(), chain.ts) on either side of the one
-- value it cannot know, its seq: body_head ends with `"seq":`, body_tail starts after the number.
-- audit_sequence() then chains staged rows here, in the server, with the same bytes
-- (sha256(prev_hash "\n" body_head seq body_tail)), and writes those bytes as the event's body
-- (migration 028) — one round trip where the chain code needed a
-- transaction of six. Rows staged before this migration have no body; the function stops at the
-- first of them (legacy) and the chain code chains the rest as before.
ALTER TABLE audit_stage ADD COLUMN body_head text;
ALTER TABLE audit_stage ADD COLUMN body_tail text;

-- Chains up to max_rows committed staged rows in (batch, id) order after the head, holding it to the
-- end of the caller's transaction; returns how many, the new head, and whether it stopped at a row
-- without a body. Without `durable` the transaction's commit does not wait for the WAL flush: a
-- crash loses the chaining and the rows' removal from the stage together, and the next run redoes
-- both. Scans are off as in migration 019: planned on the statistics of an empty stage, the reads
-- must stay walks of its (batch, id) index and of the primary keys.
CREATE FUNCTION audit_sequence(max_rows integer, durable boolean)
  RETURNS TABLE (chained bigint, head_seq bigint, head_hash text, legacy boolean)
  LANGUAGE plpgsql SET enable_seqscan = off SET enable_bitmapscan = off AS $$
DECLARE
  r record;
  s bigint;
  h text;
  ids bigint[] := '{}';
  seqs bigint[] := '{}';
  prevs text[] := '{}';
  hashes text[] := '{}';
  bodies text[] := '{}';
  body text;
BEGIN
  IF NOT durable THEN
    PERFORM set_config('synchronous_commit', 'off', true);
  END IF;
  SELECT a.seq, a.hash INTO s, h FROM audit_head a WHERE a.id = 1 FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'audit_head row missing: the store was not migrated';
  END IF;
  legacy := false;
  FOR r IN SELECT st.id, st.body_head, st.body_tail FROM audit_stage st
            ORDER BY st.batch, st.id LIMIT max_rows LOOP
    IF r.body_head IS NULL OR r.body_tail IS NULL THEN
      legacy := true;
      EXIT;
    END IF;
    ids := ids || r.id;
    prevs := prevs || h;
    s := s + 1;
    seqs := seqs || s;
    body := r.body_head || s || r.body_tail;
    h := encode(sha256(convert_to(h || E'\n' || body, 'UTF8')), 'hex');
    hashes := hashes || h;
    bodies := bodies || body;
  END LOOP;
  chained := coalesce(array_length(ids, 1), 0);
  IF chained > 0 THEN
    INSERT INTO audit_events (seq, at, actor, action, subject, details, refs, prev_hash, hash, stage_id, body)
      SELECT x.seq, st.at, st.actor, st.action, st.subject, st.details, st.refs, x.prev_hash, x.hash, st.id, x.body
        FROM unnest(ids, seqs, prevs, hashes, bodies) AS x(id, seq, prev_hash, hash, body)
        JOIN audit_stage st ON st.id = x.id
       ORDER BY x.seq;
    DELETE FROM audit_stage WHERE id = ANY(ids);
    UPDATE audit_head SET seq = s, hash = h WHERE id = 1;
  END IF;
  head_seq := s;
  head_hash := h;
  RETURN NEXT;
END
$$;
