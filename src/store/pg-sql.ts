import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { type AfterCommit, type Sql, isOpening, preparedName } from '../core/sql.js';
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

/**
 * A transaction's statements on its connection. `BEGIN` waits for the first statement and, when
 * that statement was declared with `opening` and its parameters are text, travels with it in one
 * simple-protocol message, the values as quoted literals: one round trip fewer (ADR 0044). A
 * transaction that ran no statement sends neither BEGIN nor COMMIT.
 */
function transactionSql(client: pg.PoolClient, known: string[]): { sql: Sql; begun(): boolean } {
  let begun = false;
  const sql: Sql = {
    async query<T>(text: string, params?: unknown[]) {
      try {
        if (!begun) {
          begun = true;
          const together = withBegin(text, params);
          if (together) {
            const results = (await client.query(together)) as unknown as pg.QueryResult[];
            return results[results.length - 1]!.rows as T[];
          }
          await client.query('BEGIN');
        }
        return (await run(client, text, params)).rows as T[];
      } catch (e) {
        throw scrubbedError(e, known);
      }
    },
    async transaction<T>(fn: (tx: Sql) => Promise<T>) {
      return fn(sql);
    },
  };
  return { sql, begun: () => begun };
}

/**
 * `BEGIN; <text with its parameters as literals>`, or undefined when the statement may not go so:
 * not declared with `opening`, or a parameter that is not text. A NUL would end the message's
 * text early (the simple protocol's query is a C string), so such a value goes the usual way,
 * where the server refuses it.
 */
function withBegin(text: string, params: unknown[] | undefined): string | undefined {
  if (!isOpening(text)) return undefined;
  const values = params ?? [];
  if (!values.every((v) => typeof v === 'string' && !v.includes('\0'))) return undefined;
  const inlined = text.replace(/\$(\d+)/g, (_, n: string) =>
    pg.escapeLiteral(values[Number(n) - 1] as string),
  );
  return `BEGIN; ${inlined}`;
}

/** `known`: secret values (the store URL's password) to scrub from errors beside the patterns. */
export function pgSql(pool: pg.Pool, known: string[] = []): Sql {
  const connect = () =>
    pool.connect().catch((e: unknown) => {
      throw scrubbedError(e, known);
    });
  return {
    async query<T>(text: string, params?: unknown[]) {
      const r = await run(pool, text, params).catch((e: unknown) => {
        throw scrubbedError(e, known);
      });
      return r.rows as T[];
    },
    async transaction<T>(fn: (tx: Sql) => Promise<T>, after?: () => AfterCommit | undefined) {
      const client = await connect();
      const tx = transactionSql(client, known);
      try {
        const result = await fn(tx.sql);
        const then = after?.();
        if (tx.begun() && then) {
          // One simple-protocol message: the statement after runs once COMMIT has, in an implicit
          // transaction of its own; it never fails, so an error here is the COMMIT's (ADR 0047).
          const results = (await client.query(
            `COMMIT; ${then.text}`,
          )) as unknown as pg.QueryResult[];
          then.took(results[results.length - 1]!.rows as Record<string, unknown>[]);
        } else if (tx.begun()) await client.query('COMMIT');
        return result;
      } catch (e) {
        if (tx.begun()) await client.query('ROLLBACK').catch(() => undefined);
        throw e;
      } finally {
        client.release();
      }
    },
    async copyOut(query: string) {
      const client = await connect();
      let failed: Error | undefined;
      try {
        const chunks: Buffer[] = [];
        for await (const chunk of client.query(copyTo(`COPY (${query}) TO STDOUT (FORMAT binary)`)))
          chunks.push(chunk as Buffer);
        return chunks;
      } catch (e) {
        // A COPY that failed part way may leave the connection mid-protocol: it is not reused.
        failed = e instanceof Error ? e : new Error(String(e));
        throw scrubbedError(e, known);
      } finally {
        client.release(failed);
      }
    },
  };
}
