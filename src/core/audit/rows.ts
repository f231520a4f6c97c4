import type { AuditEvent } from './chain.js';

/** Every column of audit_events, in the order an exported line lists them. */
export const AUDIT_COLUMNS = 'seq, at, actor, action, subject, details, refs, prev_hash, hash';

/** Rows per keyset page: bounded memory however long the log grows. */
export const AUDIT_BATCH = 5000;

export interface AuditRow {
  seq: number | string;
  at: Date | string;
  actor: string;
  action: string;
  subject: string;
  details: Record<string, unknown> | string;
  refs: string[];
  prev_hash: string;
  hash: string;
}

/**
 * Both drivers return timestamptz as a Date and jsonb parsed, and pg may return bigint as a
 * string; normalising here gives eventHash exactly the values appendAudit hashed.
 */
export function toEvent(row: AuditRow): AuditEvent {
  return {
    seq: Number(row.seq),
    at: new Date(row.at).toISOString(),
    actor: row.actor,
    action: row.action,
    subject: row.subject,
    details:
      typeof row.details === 'string'
        ? (JSON.parse(row.details) as Record<string, unknown>)
        : row.details,
    refs: row.refs,
    prev_hash: row.prev_hash,
    hash: row.hash,
  };
}
