import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { pgliteTemplate } from './pglite-template.js';
import { createHash } from 'node:crypto';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import type { Sql } from '../core/sql.js';
import { migrate, migrationFiles } from './migrate.js';
import { pgliteSql } from './pglite-sql.js';
import { pgSql } from './pg-sql.js';

/**
 * A fresh, migrated store for one test: against the server in DATABASE_URL when it is set (a new
 * database cloned from a migrated template), else an embedded PGlite copied from a migrated
 * template directory (creating PGlite from scratch costs ~5 s here, copying one ~0.4 s).
 */
export interface TestStore {
  sql: Sql;
  kind: 'embedded' | 'server';
  /** For the embedded store: its data directory; for the server: a connection string. */
  location: string;
  close(): Promise<void>;
}

/**
 * This machine (host name and boot), as six characters in the names of the databases its tests
 * and benchmarks create: a pid says whether a process lives only on the machine that gave it, and
 * another machine's sessions may share the server.
 */
export const machineTag = (() => {
  let tag: string | undefined;
  return () => {
    if (tag === undefined) {
      let boot = '';
      try {
        boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
      } catch {
        // Not Linux: the host name alone.
      }
      tag = createHash('sha256').update(`${hostname()}\n${boot}`).digest('hex').slice(0, 6);
    }
    return tag;
  };
})();

/** The migrations' fingerprint: a template built from other migrations is never reused. */
export const schemaHash = () =>
  createHash('sha256')
    .update(
      migrationFiles()
        .map((f) => f.text)
        .join('\n'),
    )
    .digest('hex')
    .slice(0, 12);

export async function testStore(): Promise<TestStore> {
  const url = process.env.DATABASE_URL;
  return url ? serverStore(url) : embeddedStore();
}

async function embeddedStore(): Promise<TestStore> {
  const template = await pgliteTemplate('store', schemaHash(), async (db) => {
    await migrate(pgliteSql(db));
  });
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-test-'));
  cpSync(template, join(dir, 'pgdata'), { recursive: true });
  const db = await PGlite.create(join(dir, 'pgdata'));
  return {
    sql: pgliteSql(db),
    kind: 'embedded',
    location: dir,
    close: async () => {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function serverStore(url: string): Promise<TestStore> {
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  const template = `gatehouse_template_${schemaHash()}`;
  const name = `gatehouse_test_${process.pid}_${machineTag()}_${Math.random().toString(36).slice(2, 10)}`;
  try {
    await dropDeadDatabases(admin, 'gatehouse_test_');
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [template]);
    if (exists.rowCount === 0) {
      // Two test processes may race to build the template: the loser's CREATE fails and it waits.
      try {
        await admin.query(`CREATE DATABASE ${template}`);
        const pool = new pg.Pool({ connectionString: withDb(url, template), max: 1 });
        await migrate(pgSql(pool));
        await pool.end();
      } catch {
        await new Promise((r) => setTimeout(r, 1500));
      }
    }
    for (let i = 0; ; i++) {
      try {
        await admin.query(`CREATE DATABASE ${name} TEMPLATE ${template}`);
        break;
      } catch (e) {
        // "source database is being accessed by other users" while another process clones it.
        if (i > 40) throw e;
        await new Promise((r) => setTimeout(r, 100 + Math.random() * 200));
      }
    }
  } finally {
    await admin.end();
  }
  const dbUrl = withDb(url, name);
  const pool = new pg.Pool({ connectionString: dbUrl, max: 4 });
  // DROP … WITH (FORCE) below may still meet connections pool.end() has not closed yet.
  pool.on('error', () => undefined);
  await migrate(pgSql(pool)); // a no-op unless the template was cloned while half-built
  return {
    sql: pgSql(pool),
    kind: 'server',
    location: dbUrl,
    close: async () => {
      await pool.end();
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/**
 * Databases named `PREFIX<pid>_<machine>_…` that a process of this machine created and died
 * before dropping: the pid in the name is gone. Tests (`gatehouse_test_`) and benchmark runs
 * (`gh_bench_`) clean up after the dead so; another machine's databases are never touched, since
 * its pids say nothing here.
 */
export async function dropDeadDatabases(admin: pg.Client, prefix: string): Promise<void> {
  const rows = await admin.query<{ datname: string }>(
    `SELECT datname FROM pg_database WHERE datname LIKE $1`,
    [`${prefix.replaceAll('_', '\\_')}%`],
  );
  for (const { datname } of rows.rows) {
    const [pidPart, machine] = datname.slice(prefix.length).split('_');
    const pid = Number(pidPart);
    if (!Number.isInteger(pid) || pid === process.pid || machine !== machineTag()) continue;
    try {
      process.kill(pid, 0);
    } catch {
      await admin.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`).catch(() => undefined);
    }
  }
}

export function withDb(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}
