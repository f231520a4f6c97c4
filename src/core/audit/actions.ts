/**
 * Every action the audit trail records. A typed union, so an event cannot be written under a
 * misspelt or undocumented name, and readers (trace, export, reports, ITSM write-back) can switch
 * over a closed set. docs/decision-procedure.md describes each.
 */
export const AUDIT_ACTIONS = [
  'request.submitted',
  'request.decided',
  'request.approved',
  'request.approved_stage',
  'request.rejected',
  'request.cancelled',
  'request.lapsed',
  'grant.created',
  'grant.applied',
  'grant.activated',
  'grant.extended',
  'grant.failed',
  'grant.expired',
  'grant.revoke_requested',
  'grant.revoked',
  'grant.revoke_failed',
  'grant.retry_requested',
  'grant.let_expire',
  'grant.expiry_reminder',
  'provision.retry_scheduled',
  'provision.abandoned',
  'task.opened',
  'task.fulfilled',
  'task.cancelled',
  'identity.joined',
  'identity.moved',
  'identity.left',
  'identity.owner_reassigned',
  'review.item_opened',
  'notification.delivered',
  'notification.failed',
  'config.applied',
  'token.created',
  'token.revoked',
  'session.started',
  'session.ended',
  'session.refused',
  'reconcile.started',
  'reconcile.finding',
  'reconcile.remediated',
  'reconcile.removed',
  'reconcile.remove_failed',
  'reconcile.completed',
  'access.refused',
  'access.unauthenticated',
  'itsm.ticket_received',
  'itsm.ticket_refused',
  'itsm.ticket_closed',
  'itsm.written_back',
  'itsm.writeback_failed',
] as const;

/** `apply` writes one event per changed configuration row: `config.<kind>_<change>`. */
export type ConfigChangeAction = `config.${string}_${'added' | 'changed' | 'removed'}`;

export type AuditAction = (typeof AUDIT_ACTIONS)[number] | ConfigChangeAction;
