import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Sql } from '../../core/sql.js';
import type { BulkCopy } from '../generate/load.js';
import { migrate } from '../../store/migrate.js';
import { pgliteSql } from '../../store/pglite-sql.js';
import { pgliteTemplate } from '../../store/pglite-template.js';
import { pgSql } from '../../store/pg-sql.js';
import { dropDeadDatabases, machineTag, schemaHash, withDb } from '../../store/test-store.js';

/**
 * A migrated store of the benchmark's own, with its bulk path: a database `gh_bench_<pid>_<machine>_<label>`
 * on the server in DATABASE_URL, else an embedded PGlite in a temporary directory. Dropped by
 * close(); a run killed before closing leaves databases the next run drops (their pid is dead).
 */
export interface BenchStore extends BulkCopy {
  sql: Sql;
  kind: 'embedded' | 'server';
  /** The server database's URL; for the embedded store, its data directory. */
  location: string;
  /** A second pool of `max` connections on the same server database (server only). */
  pool?: (max: number) => { sql: Sql; end(): Promise<void> };
  close(): Promise<void>;
}

/**
 * A CHECKPOINT on the server: what a bulk load left to write (gigabytes of WAL, dirty pages) is
 * written now, not by checkpoints spread over the measurement that follows. Milliseconds taken;
 * 0 on the embedded store, which has no checkpointer running beside the process.
 */
export async function checkpoint(store: BenchStore): Promise<number> {
  if (store.kind !== 'server') return 0;
  const t = performance.now();
  await store.sql.query('CHECKPOINT');
  return performance.now() - t;
}

const CHUNK_LINES = 50_000;

export async function benchStore(label: string): Promise<BenchStore> {
  const url = process.env.DATABASE_URL;
  return url ? serverStore(url, label) : embeddedStore();
}

export const benchDbName = (label: string) =>
  `gh_bench_${process.pid}_${machineTag()}_${label.replace(/\W/g, '_')}`;

async function serverStore(url: string, label: string): Promise<BenchStore> {
  const name = benchDbName(label);
  await admin(url, async (c) => {
    await dropDeadDatabases(c, 'gh_bench_');
    await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await c.query(`CREATE DATABASE ${name}`);
  });
  const dbUrl = withDb(url, name);
  const open = (max: number) => {
    const pool = new pg.Pool({ connectionString: dbUrl, max });
    pool.on('error', () => undefined);
    return { pool, sql: pgSql(pool), end: () => pool.end() };
  };
  const main = open(9);
  await migrate(main.sql);
  return {
    sql: main.sql,
    kind: 'server',
    location: dbUrl,
    pool: open,
    async copy(table, columns, lines) {
      const client = await main.pool.connect();
      let n = 0;
      try {
        const sink = client.query(
          copyFrom(`COPY ${table} (${columns.join(', ')}) FROM STDIN WITH (FORMAT csv)`),
        );
        await pipeline(
          Readable.from(
            (function* () {
              let buf: string[] = [];
              for (const l of lines) {
                buf.push(l);
                n++;
                if (buf.length === CHUNK_LINES / 10) {
                  yield buf.join('\n') + '\n';
                  buf = [];
                }
              }
              if (buf.length) yield buf.join('\n') + '\n';
            })(),
          ),
          sink,
        );
      } finally {
        client.release();
      }
      return n;
    },
    async close() {
      await main.end();
      await admin(url, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}

async function embeddedStore(): Promise<BenchStore> {
  const template = await pgliteTemplate('bench-store', schemaHash(), async (db) => {
    await migrate(pgliteSql(db));
  });
  const dir = mkdtempSync(join(tmpdir(), 'gh-bench-'));
  cpSync(template, join(dir, 'pgdata'), { recursive: true });
  const db = await PGlite.create(join(dir, 'pgdata'));
  return {
    sql: pgliteSql(db),
    kind: 'embedded',
    location: dir,
    async copy(table, columns, lines) {
      let n = 0;
      let buf: string[] = [];
      const flush = async () => {
        if (buf.length === 0) return;
        const blob = new Blob([buf.join('\n') + '\n']);
        buf = [];
        await db.query(
          `COPY ${table} (${columns.join(', ')}) FROM '/dev/blob' WITH (FORMAT csv)`,
          [],
          { blob },
        );
      };
      for (const l of lines) {
        buf.push(l);
        n++;
        if (buf.length === CHUNK_LINES) await flush();
      }
      await flush();
      return n;
    },
    async close() {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function admin<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}
