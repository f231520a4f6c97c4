import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Sql } from '../core/sql.js';

const DIR = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

export function migrationFiles(): { version: number; name: string; text: string }[] {
  return readdirSync(DIR)
    .filter((f) => /^\d+_.*\.sql$/.test(f))
    .sort()
    .map((f) => ({ version: Number(f.split('_')[0]), name: f, text: readFileSync(join(DIR, f), 'utf8') }));
}

/**
 * Applies pending migrations, each in one transaction with its row written first so two migrators
 * collide on the primary key instead of both applying. A schema newer than this code is refused.
 */
export async function migrate(sql: Sql): Promise<number> {
  await sql.query(
    `CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
  );
  const files = migrationFiles();
  const done = await sql.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
  const latest = files.at(-1)?.version ?? 0;
  const newest = done.at(-1)?.version ?? 0;
  if (newest > latest) {
    throw new Error(`the store's schema is version ${newest}, newer than this Gatehouse knows (${latest}); upgrade Gatehouse`);
  }
  const have = new Set(done.map((d) => d.version));
  let applied = 0;
  for (const f of files) {
    if (have.has(f.version)) continue;
    await sql.transaction(async (tx) => {
      await tx.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [f.version, f.name]);
      for (const stmt of splitStatements(f.text)) await tx.query(stmt);
    });
    applied++;
  }
  return applied;
}

/** Our migrations use no dollar-quoting, so statements split on semicolons at line ends. */
function splitStatements(text: string): string[] {
  return text
    .split(/;\s*$/m)
    .map((s) => s.replace(/^\s*--.*$/gm, '').trim())
    .filter((s) => s.length > 0);
}
