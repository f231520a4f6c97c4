-- Ticket findings in reconciliation (issue 10, ADR 0034): an integration's tickets compared with
-- the live record are findings like the connectors' ones, recorded under the coverage entry
-- `itsm:NAME` and naming their ticket.
ALTER TABLE reconcile_findings ADD COLUMN ticket text;
ALTER TABLE reconcile_findings DROP CONSTRAINT reconcile_findings_kind_check;
ALTER TABLE reconcile_findings ADD CONSTRAINT reconcile_findings_kind_check CHECK (kind IN (
  'unmanaged', 'missing', 'revocation_failed', 'orphaned',
  'ticket_done_not_verified', 'ticket_closed_access_present', 'ticket_cancelled_access_present'));
