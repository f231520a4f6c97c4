import type { Sql } from '../core/sql.js';

/** A Sql that also keeps the plan PostgreSQL picks for each statement (EXPLAIN, nothing timed). */
export function planning(sql: Sql): { sql: Sql; plans: string[] } {
  const plans: string[] = [];
  return {
    plans,
    sql: {
      ...sql,
      async query<T>(text: string, params?: unknown[]) {
        const rows = await sql.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${text}`, params);
        plans.push(rows.map((r) => r['QUERY PLAN']).join('\n'));
        return sql.query<T>(text, params);
      },
    } as Sql,
  };
}
