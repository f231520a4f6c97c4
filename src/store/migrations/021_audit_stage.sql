-- Audit events staged by the transaction that made the change, chained after it commits (ADR 0032).
-- A writer inserts its events here as its last statement, without touching audit_head, so writers
-- no longer queue on the head row; a sequencer holding the head moves committed rows into
-- audit_events in (batch, id) order and deletes them here. batch is one value per writing
-- transaction, taken in that last statement: whatever the writer saw of another transaction was
-- committed, and so staged with a smaller batch, before it. id keeps a batch's events in the order
-- they were recorded (ids of concurrent batches interleave, so they alone would not).
CREATE SEQUENCE audit_stage_batch;
CREATE TABLE audit_stage (
  id bigserial PRIMARY KEY,
  batch bigint NOT NULL,
  at timestamptz NOT NULL,
  actor text NOT NULL,
  action text NOT NULL,
  subject text NOT NULL,
  details jsonb NOT NULL DEFAULT '{}',
  refs text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_stage_order ON audit_stage (batch, id);

-- Which staged row an event was chained from: unique, so no staged row is ever chained twice.
ALTER TABLE audit_events ADD COLUMN stage_id bigint;
CREATE UNIQUE INDEX audit_events_stage_id ON audit_events (stage_id) WHERE stage_id IS NOT NULL;

-- A staged row is never edited, and leaves only once its event is in the chain. The lookup is by
-- stage_id only: as in migration 019, PL/pgSQL's plan must not become a scan of the whole log.
CREATE FUNCTION audit_stage_drain_only() RETURNS trigger LANGUAGE plpgsql
  SET enable_seqscan = off SET enable_bitmapscan = off AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM audit_events e WHERE e.stage_id = OLD.id) THEN
    RAISE EXCEPTION 'audit_stage rows leave only once chained: DELETE of % refused', OLD.id
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN OLD;
END
$$;

CREATE TRIGGER audit_stage_no_update BEFORE UPDATE ON audit_stage
  FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_stage_drain BEFORE DELETE ON audit_stage
  FOR EACH ROW EXECUTE FUNCTION audit_stage_drain_only();
CREATE TRIGGER audit_stage_no_truncate BEFORE TRUNCATE ON audit_stage
  FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
