-- Audit events may be appended in batches (appendAuditMany): the head then moves forward over
-- several events in one step. It still moves only onto events that extend the chain from the old
-- head: every event between is present and links to the one before (its prev_hash is its
-- predecessor's hash, the first one's the old head's), and the new head is the last one's hash.
CREATE OR REPLACE FUNCTION audit_head_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
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

-- When each piece of periodic maintenance last ran, by the engine's clock: a task registered with
-- the job runtime (refreshing planner statistics) runs at most once per interval across every
-- process sharing the store, and a store without autovacuum (PGlite, some servers) still gets it.
CREATE TABLE maintenance_runs (
  name text PRIMARY KEY,
  last_run_at timestamptz NOT NULL
);
