/**
 * The store port. The core speaks PostgreSQL's dialect through this interface and never sees a
 * driver: PGlite and node-postgres both sit behind it (src/store).
 */
export interface Sql {
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  /**
   * Runs fn in one transaction: every state change and its audit events commit together. `after`
   * is asked at commit time for a statement to run once the transaction has committed; a driver
   * that can send it with the COMMIT in one round trip does, and hands its rows to `took`
   * (ADR 0047). One that cannot ignores it: a caller that is not handed rows runs it itself.
   */
  transaction<T>(fn: (tx: Sql) => Promise<T>, after?: () => AfterCommit | undefined): Promise<T>;
  /**
   * `COPY (query) TO STDOUT (FORMAT binary)`: the bytes as the server sent them, for reading many
   * rows without a row object each (audit verify, ADR 0049). Optional: a driver without it (the
   * embedded store, a wrapper) leaves it out, and callers read by query instead.
   */
  copyOut?(query: string): Promise<Buffer[]>;
}

/**
 * A statement without parameters for after a commit. It must not fail (the round trip's error is
 * the COMMIT's), and a failed or partial run must be something its caller can see in its rows.
 */
export interface AfterCommit {
  text: string;
  took(rows: Record<string, unknown>[]): void;
}

export async function one<T>(sql: Sql, text: string, params?: unknown[]): Promise<T | undefined> {
  const rows = await sql.query<T>(text, params);
  return rows[0];
}

/** Statement texts declared hot with `prepared`; a fixed set, filled as modules load. */
const hot = new Map<string, string>();

/**
 * Declares a hot statement: a driver that can keep a parsed and planned statement per connection
 * (node-postgres, by name) prepares it once instead of planning it on every call. Only constant
 * module-level texts belong here — the set of prepared statements per connection must stay
 * bounded — and their plans must hold with parameters unknown (a prepared statement may switch
 * to a generic plan after five runs).
 */
export function prepared(text: string): string {
  if (!hot.has(text)) hot.set(text, `gh_${hot.size + 1}`);
  return text;
}

/** Statement texts declared with `opening`. */
const openers = new Set<string>();

/**
 * Declares a statement that often opens a transaction and is cheap to plan (a primary-key lock,
 * say): a driver that pays a round trip per statement (node-postgres) may send it in one message
 * with the `BEGIN` before it, its parameters as quoted literals — only text parameters, and only
 * when it is the transaction's first statement (ADR 0044). Elsewhere it is an ordinary statement.
 */
export function opening(text: string): string {
  openers.add(text);
  return text;
}

/** Whether `text` was declared with `opening`. */
export function isOpening(text: string): boolean {
  return openers.has(text);
}

/** The name `text` is prepared under, if it was declared with `prepared`. */
export function preparedName(text: string): string | undefined {
  return hot.get(text);
}
