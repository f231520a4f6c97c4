import pg from 'pg';
import { type Sql, preparedName } from '../core/sql.js';
import { scrubbedError } from './scrub-error.js';

// timestamptz and bigint come back as strings; the core converts where it needs to, the same
// way it does for PGlite, so one dialect and one shape of row serve both stores.
pg.types.setTypeParser(pg.types.builtins.TIMESTAMPTZ, (v) => new Date(v));
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));
pg.types.setTypeParser(pg.types.builtins.FLOAT8, (v) => Number(v));

type Queryable = Pick<pg.Pool, 'query'> | Pick<pg.PoolClient, 'query'>;

/** Hot statements (core/sql.ts `prepared`) go by name: parsed and planned once per connection. */
function run(q: Queryable, text: string, params: unknown[] | undefined) {
  const name = preparedName(text);
  return name ? q.query({ name, text, values: params }) : q.query(text, params);
}

function clientSql(client: pg.PoolClient, known: string[]): Sql {
  return {
    async query<T>(text: string, params?: unknown[]) {
      const r = await run(client, text, params).catch((e: unknown) => {
        throw scrubbedError(e, known);
      });
      return r.rows as T[];
    },
    async transaction<T>(fn: (tx: Sql) => Promise<T>) {
      return fn(this);
    },
  };
}

/** `known`: secret values (the store URL's password) to scrub from errors beside the patterns. */
export function pgSql(pool: pg.Pool, known: string[] = []): Sql {
  return {
    async query<T>(text: string, params?: unknown[]) {
      const r = await run(pool, text, params).catch((e: unknown) => {
        throw scrubbedError(e, known);
      });
      return r.rows as T[];
    },
    async transaction<T>(fn: (tx: Sql) => Promise<T>) {
      const client = await pool.connect().catch((e: unknown) => {
        throw scrubbedError(e, known);
      });
      try {
        await client.query('BEGIN');
        const result = await fn(clientSql(client, known));
        await client.query('COMMIT');
        return result;
      } catch (e) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw e;
      } finally {
        client.release();
      }
    },
  };
}
