import { PGlite, type Transaction } from '@electric-sql/pglite';
import type { Sql } from '../core/sql.js';
import { scrubbedError } from './scrub-error.js';

type Queryable = Pick<PGlite, 'query'> | Transaction;

function wrap(q: Queryable, inTx: boolean, db: PGlite): Sql {
  return {
    async query<T>(text: string, params?: unknown[]) {
      const r = await q.query<T>(text, params as unknown[]).catch((e: unknown) => {
        throw scrubbedError(e);
      });
      return r.rows;
    },
    async transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
      // Nested transactions join the outer one: a use case composed of others commits once.
      if (inTx) return fn(this);
      return db.transaction((tx) => fn(wrap(tx, true, db)));
    },
  };
}

export function pgliteSql(db: PGlite): Sql {
  return wrap(db, false, db);
}
