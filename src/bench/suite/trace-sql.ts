import { performance } from 'node:perf_hooks';
import type { Sql } from '../../core/sql.js';

interface Tally {
  n: number;
  ms: number;
}

/**
 * A store handle that times every statement and transaction passed through it, for a benchmark's
 * profile of where a use case's time goes (`BENCH_TRACE=1`). Statements are keyed by their first
 * words; a transaction by its first statement, so the writer's and the sequencer's tell apart.
 * Times are wall times seen by the caller: round trip, server and waiting for the connection.
 */
export class SqlTrace {
  private readonly statements = new Map<string, Tally>();
  private readonly transactions = new Map<string, Tally>();
  /** With `events`: each statement's start and end, epoch ms, and its key (tx: in a transaction). */
  readonly events: { start: number; end: number; key: string; tx: boolean }[] | undefined;

  constructor(opts: { events?: boolean } = {}) {
    this.events = opts.events ? [] : undefined;
  }

  wrap(sql: Sql): Sql {
    return this.wrapIn(sql, undefined);
  }

  private wrapIn(sql: Sql, onFirst: ((key: string) => void) | undefined): Sql {
    let first = onFirst;
    return {
      query: async <T>(text: string, params?: unknown[]) => {
        const key = text.replace(/\s+/g, ' ').trim().slice(0, 72);
        first?.(key);
        first = undefined;
        const t = performance.now();
        try {
          return await sql.query<T>(text, params);
        } finally {
          const end = performance.now();
          add(this.statements, key, end - t);
          const at = performance.timeOrigin;
          this.events?.push({ start: at + t, end: at + end, key, tx: onFirst !== undefined });
        }
      },
      transaction: async <T>(fn: (tx: Sql) => Promise<T>) => {
        const t = performance.now();
        let label = '(empty)';
        try {
          return await sql.transaction((tx) => fn(this.wrapIn(tx, (k) => (label = k))));
        } finally {
          add(this.transactions, `txn ${label}`, performance.now() - t);
        }
      },
    };
  }

  /** Lines of mean time and count per unit of work (`per`: how many units were traced). */
  report(per: number): string[] {
    const lines = (m: Map<string, Tally>) =>
      [...m]
        .sort(([, a], [, b]) => b.ms - a.ms)
        .map(
          ([k, v]) =>
            `${(v.ms / per).toFixed(3).padStart(8)} ms/unit ${(v.n / per).toFixed(2).padStart(6)} x  mean ${(v.ms / v.n).toFixed(3)} ms  ${k}`,
        );
    return [...lines(this.transactions), ...lines(this.statements)];
  }
}

function add(m: Map<string, Tally>, key: string, ms: number): void {
  const e = m.get(key) ?? { n: 0, ms: 0 };
  e.n++;
  e.ms += ms;
  m.set(key, e);
}
