/**
 * The store port. The core speaks PostgreSQL's dialect through this interface and never sees a
 * driver: PGlite and node-postgres both sit behind it (src/store).
 */
export interface Sql {
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  /** Runs fn in one transaction: every state change and its audit events commit together. */
  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T>;
}

export async function one<T>(sql: Sql, text: string, params?: unknown[]): Promise<T | undefined> {
  const rows = await sql.query<T>(text, params);
  return rows[0];
}
