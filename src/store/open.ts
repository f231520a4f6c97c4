import { existsSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Sql } from '../core/sql.js';
import { secretsIn } from '../core/secrets.js';
import { acquireLock } from './lock.js';
import { migrate } from './migrate.js';
import { compilePgliteWasm } from './pglite-wasm.js';

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
   * The process holds the store for one command: the embedded store starts with small shared
   * memory. PGlite zeroes all of it in WebAssembly on start-up, byte by byte in baseline-compiled
   * code for a brief command (ADR 0029, 0036); `serve`, which holds the store for long, keeps
   * the defaults.
   */
  brief?: boolean;
}

/**
 * Shared memory of an embedded store opened for one command. The buffer pool (128 MB by default)
 * and the lock and process tables sized for 100 connections and 16 autovacuum workers are zeroed
 * on every start; a single-user PGlite has one backend and no autovacuum. 4 MB of buffers still
 * hold a command's working set (a page of a list, a decision's facts); a miss is a read from the
 * data directory. Measured (ADR 0036): 16 MB → 4 MB with the tables shrunk saved about 70 ms of
 * CPU and 16 MB of peak RSS per command (128 MB → 16 MB had saved a fifth, ADR 0029).
 */
const BRIEF_START_PARAMS = [
  '-c',
  'shared_buffers=4MB',
  '-c',
  'max_connections=5',
  '-c',
  'autovacuum_worker_slots=1',
];

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
    // Compiled on V8's background threads while this thread loads PGlite's JavaScript (and the
    // caller the use cases); PGlite would otherwise start compiling only once both are loaded.
    const pgliteWasmModule = compilePgliteWasm();
    const [{ PGlite }, { pgliteSql }] = await Promise.all([
      import('@electric-sql/pglite'),
      import('./pglite-sql.js'),
    ]);
    const db = await PGlite.create(resolve(dir, 'pgdata'), {
      pgliteWasmModule: await pgliteWasmModule,
      ...(opts.brief ? { startParams: [...PGlite.defaultStartParams, ...BRIEF_START_PARAMS] } : {}),
    });
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
