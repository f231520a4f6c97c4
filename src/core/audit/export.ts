import type { Sql } from '../sql.js';
import { sequenceAudit } from './chain.js';
import { AUDIT_BATCH, AUDIT_COLUMNS, type AuditRow, toEvent } from './rows.js';

/**
 * The log as JSON lines (one event each, without the newline), in seq order, one keyset page
 * read at a time: a consumer that pulls slowly (an HTTP client) holds at most one page in memory.
 * since keeps events at or after that instant.
 */
export async function* auditLines(sql: Sql, since: Date | undefined): AsyncGenerator<string> {
  // Every committed change's events are in the export, even those still staged.
  await sequenceAudit(sql);
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
    for (const row of rows) yield JSON.stringify(toEvent(row));
    const tail = rows.at(-1);
    if (rows.length < AUDIT_BATCH || !tail) return;
    after = Number(tail.seq);
  }
}

/** Writes the log as auditLines gives it, each line to write; returns the count. */
export async function exportAudit(
  sql: Sql,
  since: Date | undefined,
  write: (line: string) => void,
): Promise<number> {
  let count = 0;
  for await (const line of auditLines(sql, since)) {
    write(line);
    count++;
  }
  return count;
}
