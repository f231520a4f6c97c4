import { createHash } from 'node:crypto';
import type { Sql } from '../sql.js';
import type { AuditAction } from './actions.js';

export interface AuditInput {
  actor: string;
  action: AuditAction;
  subject: string;
  details?: Record<string, unknown>;
  /** Request and grant ids this event concerns, beyond the subject. */
  refs?: string[];
}

export interface AuditEvent {
  seq: number;
  at: string;
  actor: string;
  action: string;
  subject: string;
  details: Record<string, unknown>;
  refs: string[];
  prev_hash: string;
  hash: string;
}

/** Canonical JSON: keys sorted at every depth, so the hash does not depend on jsonb's key order. */
export function canonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
}

export function eventHash(e: Omit<AuditEvent, 'hash'>): string {
  const body = canonical({
    seq: e.seq,
    at: e.at,
    actor: e.actor,
    action: e.action,
    subject: e.subject,
    details: e.details,
    refs: e.refs,
  });
  return createHash('sha256').update(e.prev_hash).update('\n').update(body).digest('hex');
}

/**
 * Appends one event inside the caller's transaction. Updating the single head row takes a row
 * lock until commit, so concurrent writers queue and the chain never forks.
 */
export async function appendAudit(tx: Sql, at: Date, input: AuditInput): Promise<AuditEvent> {
  const [head] = await tx.query<{ seq: number | string; hash: string }>(
    'SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE',
  );
  if (!head) throw new Error('audit_head row missing: the store was not migrated');
  const partial = {
    seq: Number(head.seq) + 1,
    at: at.toISOString(),
    actor: input.actor,
    action: input.action,
    subject: input.subject,
    details: JSON.parse(JSON.stringify(input.details ?? {})) as Record<string, unknown>,
    refs: [...new Set([input.subject, ...(input.refs ?? [])])],
    prev_hash: head.hash,
  };
  const event: AuditEvent = { ...partial, hash: eventHash(partial) };
  await tx.query(
    `INSERT INTO audit_events (seq, at, actor, action, subject, details, refs, prev_hash, hash)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    [
      event.seq,
      event.at,
      event.actor,
      event.action,
      event.subject,
      JSON.stringify(event.details),
      event.refs,
      event.prev_hash,
      event.hash,
    ],
  );
  await tx.query('UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1', [event.seq, event.hash]);
  return event;
}
