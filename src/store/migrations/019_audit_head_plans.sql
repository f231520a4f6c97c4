-- The head's forward-only check (migration 008) runs inside every audit append, while the writer
-- holds the head. Its lookups of the events it moves over are by seq, but PL/pgSQL plans them
-- once per connection, on the statistics of that moment: planned while audit_events looked small
-- (autovacuum off, PGlite never analyzes) they scan the whole log, so each append cost more as
-- the log grew (3 → 11 ms after 6,000 events) and every queued writer paid it (ADR 0028). Without
-- sequential or bitmap scans, the primary key walk bounded by the batch is the only plan left.
CREATE OR REPLACE FUNCTION audit_head_forward_only() RETURNS trigger LANGUAGE plpgsql
  SET enable_seqscan = off SET enable_bitmapscan = off AS $$
BEGIN
  IF NEW.id <> OLD.id OR NEW.seq <= OLD.seq
     OR NOT EXISTS (SELECT 1 FROM audit_events e WHERE e.seq = NEW.seq AND e.hash = NEW.hash)
     OR EXISTS (
       SELECT 1 FROM audit_events e
         LEFT JOIN audit_events p ON p.seq = e.seq - 1 AND e.seq > OLD.seq + 1
        WHERE e.seq > OLD.seq AND e.seq <= NEW.seq
          AND e.prev_hash IS DISTINCT FROM (CASE WHEN e.seq = OLD.seq + 1 THEN OLD.hash ELSE p.hash END)
     )
     OR (SELECT count(*) FROM audit_events e WHERE e.seq > OLD.seq AND e.seq <= NEW.seq) <> NEW.seq - OLD.seq
  THEN
    RAISE EXCEPTION 'audit_head only moves forward onto the next appended event: UPDATE refused'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END
$$;
