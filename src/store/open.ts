import { existsSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Sql } from '../core/sql.js';
import { secretsIn } from '../core/secrets.js';
import { acquireLock } from './lock.js';
import { migrate } from './migrate.js';

export interface Store {
  sql: Sql;
  /** 'embedded' (PGlite in a directory) or 'server' (DATABASE_URL). */
  kind: 'embedded' | 'server';
  location: string;
  close(): Promise<void>;
}

export interface OpenOptions {
  dataDir: string;
  databaseUrl?: string | undefined;
  /** Named in the lock so a second process can say who holds the store. */
  command: string;
  /**
   * The process holds the store for one command: the embedded store starts with a small buffer
   * pool. PostgreSQL's default 128 MB is zeroed in WebAssembly memory on start-up (measured: 16 MB
   * cuts a command's peak RSS from about 310 to 185 MB, and its start-up by a fifth); `serve`,
   * which holds the store for long, keeps the default (ADR 0029).
   */
  brief?: boolean;
}

/** The buffer pool of an embedded store opened for one command. */
const BRIEF_START_PARAMS = ['-c', 'shared_buffers=16MB'];

/**
 * Each store's driver is loaded when that store is opened (ADR 0029): a command on the embedded
 * store does not pay for node-postgres, nor one on a server for PGlite's WebAssembly.
 */
export async function openStore(opts: OpenOptions): Promise<Store> {
  if (opts.databaseUrl) {
    const [{ default: pg }, { pgSql }] = await Promise.all([import('pg'), import('./pg-sql.js')]);
    const pool = new pg.Pool({ connectionString: opts.databaseUrl, max: 4 });
    // An idle connection the server drops (restart, failover) must not end the process: the pool
    // discards it and the next query connects afresh.
    pool.on('error', () => undefined);
    const sql = pgSql(pool, secretsIn(opts.databaseUrl));
    await migrate(sql);
    return {
      sql,
      kind: 'server',
      location: redact(opts.databaseUrl),
      close: () => pool.end(),
    };
  }
  const dir = resolve(opts.dataDir);
  mkdirSync(dir, { recursive: true });
  const release = acquireLock(dir, opts.command);
  try {
    const [{ PGlite }, { pgliteSql }] = await Promise.all([
      import('@electric-sql/pglite'),
      import('./pglite-sql.js'),
    ]);
    const db = await PGlite.create(
      resolve(dir, 'pgdata'),
      opts.brief ? { startParams: [...PGlite.defaultStartParams, ...BRIEF_START_PARAMS] } : {},
    );
    const sql = pgliteSql(db);
    await migrate(sql);
    return {
      sql,
      kind: 'embedded',
      location: dir,
      close: async () => {
        await db.close();
        release();
      },
    };
  } catch (e) {
    release();
    throw e;
  }
}

export function storeExists(opts: OpenOptions): boolean {
  return Boolean(opts.databaseUrl) || existsSync(resolve(opts.dataDir, 'pgdata'));
}

/** A connection string without its password, for messages. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'DATABASE_URL';
  }
}
