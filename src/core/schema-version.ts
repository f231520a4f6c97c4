import type { Sql } from './sql.js';

/** The newest migration the store has applied (0 for an empty store): what readiness compares. */
export async function schemaVersion(sql: Sql): Promise<number> {
  const [row] = await sql.query<{ v: number | null }>(
    'SELECT max(version)::int AS v FROM schema_migrations',
  );
  return row?.v ?? 0;
}
