import { NotFoundError } from '../errors.js';
import type { Sql } from '../sql.js';
import { one } from '../sql.js';
import { type AuditEvent, sequenceAudit } from './chain.js';
import { AUDIT_COLUMNS, type AuditRow, toEvent } from './rows.js';

/**
 * Ids one link away from a request or grant: a request's grants and the grant it extends; a
 * grant's source request and its extension requests. One hop only, so an extension's trace shows
 * the grant it extends without pulling in every other request that grant ever had.
 */
const RELATED = `
  SELECT id FROM grants WHERE request_id = $1
  UNION SELECT request_id FROM grants WHERE id = $1 AND request_id IS NOT NULL
  UNION SELECT id FROM requests WHERE extends_grant = $1
  UNION SELECT extends_grant FROM requests WHERE id = $1 AND extends_grant IS NOT NULL`;

/** Every event that concerns a request or grant, or the ids directly linked to it, in seq order. */
export async function traceAudit(sql: Sql, id: string): Promise<AuditEvent[]> {
  // A change that has committed is traced with its events, even if they were still staged.
  await sequenceAudit(sql);
  const related = await sql.query<{ id: string }>(RELATED, [id]);
  const ids = [...new Set([id, ...related.map((r) => r.id)])];
  // && on refs is what the GIN index audit_refs serves.
  const rows = await sql.query<AuditRow>(
    `SELECT ${AUDIT_COLUMNS} FROM audit_events WHERE refs && $1::text[] ORDER BY seq`,
    [ids],
  );
  if (rows.length === 0 && related.length === 0) {
    const known = await one(
      sql,
      'SELECT 1 FROM requests WHERE id = $1 UNION ALL SELECT 1 FROM grants WHERE id = $1',
      [id],
    );
    if (!known) throw new NotFoundError(`no request or grant with id ${id}`, { field: 'id' });
  }
  return rows.map(toEvent);
}
