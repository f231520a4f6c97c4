import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Sql } from '../core/sql.js';

const DIR = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

export function migrationFiles(): { version: number; name: string; text: string }[] {
  return readdirSync(DIR)
    .filter((f) => /^\d+_.*\.sql$/.test(f))
    .sort()
    .map((f) => ({
      version: Number(f.split('_')[0]),
      name: f,
      text: readFileSync(join(DIR, f), 'utf8'),
    }));
}

/** Held (per transaction) by whoever migrates, so nodes starting together take turns. */
const LOCK = `SELECT pg_advisory_xact_lock(hashtext('gatehouse.migrate'))`;

/**
 * Applies pending migrations, each in one transaction with its row written first. Migrators take
 * turns under an advisory lock and re-check under it, so several nodes starting together on one
 * server database apply each migration once and none fails. A schema newer than this code is refused.
 */
export async function migrate(sql: Sql): Promise<number> {
  if (await upToDate(sql)) return 0;
  await sql.transaction(async (tx) => {
    await tx.query(LOCK);
    await tx.query(
      `CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
  });
  const files = migrationFiles();
  const done = await sql.query<{ version: number }>(
    'SELECT version FROM schema_migrations ORDER BY version',
  );
  const latest = files.at(-1)?.version ?? 0;
  const newest = done.at(-1)?.version ?? 0;
  if (newest > latest) {
    throw new Error(
      `the store's schema is version ${newest}, newer than this Gatehouse knows (${latest}); upgrade Gatehouse`,
    );
  }
  const have = new Set(done.map((d) => d.version));
  let applied = 0;
  for (const f of files) {
    if (have.has(f.version)) continue;
    const mine = await sql.transaction(async (tx) => {
      await tx.query(LOCK);
      // Another node may have applied it while this one waited for the lock.
      const [taken] = await tx.query('SELECT 1 FROM schema_migrations WHERE version = $1', [
        f.version,
      ]);
      if (taken) return false;
      await tx.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [
        f.version,
        f.name,
      ]);
      for (const stmt of splitStatements(f.text)) await tx.query(stmt);
      return true;
    });
    if (mine) applied++;
  }
  return applied;
}

/**
 * Every store is opened through migrate, and almost always finds nothing to do: one read
 * answers that, without the lock, the table check and their transaction (ADR 0029). Anything else
 * (a missing table, a pending or newer version) goes the careful way.
 */
async function upToDate(sql: Sql): Promise<boolean> {
  let done: { version: number }[];
  try {
    done = await sql.query<{ version: number }>('SELECT version FROM schema_migrations');
  } catch {
    return false;
  }
  const have = new Set(done.map((d) => Number(d.version)));
  const known = readdirSync(DIR)
    .filter((f) => /^\d+_.*\.sql$/.test(f))
    .map((f) => Number(f.split('_')[0]));
  return have.size === known.length && known.every((v) => have.has(v));
}

/**
 * Statements end with a semicolon at the end of a line, except inside a dollar-quoted body (a
 * PL/pgSQL function), whose own statements end the same way. Whole-line comments outside such a
 * body are dropped.
 */
export function splitStatements(text: string): string[] {
  const statements: string[] = [];
  let current: string[] = [];
  let quote: string | undefined;
  for (const line of text.split('\n')) {
    if (quote === undefined && /^\s*--/.test(line)) continue;
    current.push(line);
    for (const [tag] of line.matchAll(/\$[A-Za-z_]*\$/g)) {
      if (quote === undefined) quote = tag;
      else if (quote === tag) quote = undefined;
    }
    if (quote === undefined && /;\s*$/.test(line)) {
      statements.push(current.join('\n').replace(/;\s*$/, '').trim());
      current = [];
    }
  }
  statements.push(current.join('\n').trim());
  return statements.filter((s) => s.length > 0);
}
