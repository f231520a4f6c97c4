import type { Sql } from '../sql.js';
import { AUDIT_BATCH, AUDIT_COLUMNS, type AuditRow, toEvent } from './rows.js';

/**
 * Writes the log as JSON lines (each call gets one event, without the newline), in seq order,
 * one keyset page at a time. since keeps events at or after that instant. Returns the count.
 */
export async function exportAudit(
  sql: Sql,
  since: Date | undefined,
  write: (line: string) => void,
): Promise<number> {
  let count = 0;
  let after: number | undefined;
  for (;;) {
    const where: string[] = [];
    const params: unknown[] = [];
    if (after !== undefined) where.push(`seq > $${params.push(after)}`);
    if (since) where.push(`at >= $${params.push(since.toISOString())}`);
    const filter = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
    const rows = await sql.query<AuditRow>(
      `SELECT ${AUDIT_COLUMNS} FROM audit_events ${filter} ORDER BY seq LIMIT $${params.push(AUDIT_BATCH)}`,
      params,
    );
    for (const row of rows) write(JSON.stringify(toEvent(row)));
    count += rows.length;
    const tail = rows.at(-1);
    if (rows.length < AUDIT_BATCH || !tail) return count;
    after = Number(tail.seq);
  }
}
