import { type Sql, prepared } from '../sql.js';
import {
  type Authentication,
  TOKEN_COLUMNS,
  type TokenRow,
  judgeToken,
  presentedTokenId,
} from '../tokens/authenticate.js';
import { HIT_SQL, type WindowCount, windowCounts, windowStart } from './rate-windows.js';

/*
 * The rate-limit counts of the API calls waiting on one store handle, and the rows of the tokens
 * they present, in one statement: the hit rows (key set), then the token rows (key null). Each
 * key is added to once, by as many calls as name it, keys sorted, so two nodes' statements lock
 * shared rows in the same order.
 */
const HITS_AND_TOKENS = prepared(`
  WITH hit AS (${HIT_SQL})
  SELECT key, hits, NULL::text AS token_id, NULL::bytea AS secret_hash, NULL::text AS identity,
         NULL::text[] AS scopes, NULL::timestamptz AS expires_at, NULL::timestamptz AS revoked_at,
         NULL::timestamptz AS last_used_at, NULL::text AS status
    FROM hit
  UNION ALL
  SELECT NULL, NULL, t.id, ${TOKEN_COLUMNS}
    FROM api_tokens t JOIN identities i ON i.id = t.identity WHERE t.id = ANY($4::text[])`);

export interface Admission {
  counts: WindowCount[];
  /** The token's authentication, from the row already read; called only if the call is let in. */
  authenticate(): Promise<Authentication>;
}

interface Waiting {
  keys: readonly string[];
  windowMs: number;
  now: Date;
  start: number;
  token: string;
  id: string | undefined;
  resolve(a: Admission): void;
  reject(e: unknown): void;
}

const perHandle = new WeakMap<Sql, (w: Waiting) => void>();

/**
 * Counts a call against each key in the window holding `now` and reads the row of the token it
 * presents. The token is judged only when asked, so a call over its limit is refused before
 * anything about its token is decided or audited.
 *
 * Calls through one handle that arrive while its statement runs wait and go together in the next
 * (ADR 0058): every call of a node adds to the same two rows (its address, its token), and one
 * statement a call made them queue on those rows' locks, each waiting for the commit before it.
 * Each call is still told its own place in the shared count, in arrival order, as if counted alone.
 */
export function admitCall(
  sql: Sql,
  keys: readonly string[],
  windowMs: number,
  now: Date,
  token: string,
): Promise<Admission> {
  let enqueue = perHandle.get(sql);
  if (!enqueue) perHandle.set(sql, (enqueue = admissionsOf(sql)));
  const start = windowStart(now, windowMs).getTime();
  const id = presentedTokenId(token);
  return new Promise((resolve, reject) =>
    enqueue({ keys, windowMs, now, start, token, id, resolve, reject }),
  );
}

function admissionsOf(sql: Sql): (w: Waiting) => void {
  const waiting: Waiting[] = [];
  let running = false;
  const pump = () => {
    if (running || waiting.length === 0) return;
    running = true;
    // One window a statement: calls of another (a window that has just turned) go next.
    const first = waiting[0]!;
    const batch: Waiting[] = [];
    const later: Waiting[] = [];
    for (const w of waiting)
      (w.windowMs === first.windowMs && w.start === first.start ? batch : later).push(w);
    waiting.length = 0;
    for (const w of later) waiting.push(w);
    // A failed statement (or any throw) answers every call of the batch, never the process's
    // unhandled rejection.
    void admitBatch(sql, batch)
      .catch((e: unknown) => {
        for (const w of batch) w.reject(e);
      })
      .finally(() => {
        running = false;
        pump();
      });
  };
  return (w) => {
    waiting.push(w);
    pump();
  };
}

async function admitBatch(sql: Sql, batch: readonly Waiting[]): Promise<void> {
  const named = batch.map((w) => [...new Set(w.keys)]);
  const added = new Map<string, number>();
  for (const keys of named) for (const k of keys) added.set(k, (added.get(k) ?? 0) + 1);
  const keys = [...added.keys()].sort();
  const ids = [...new Set(batch.flatMap((w) => (w.id ? [w.id] : [])))];
  const { windowMs, start } = batch[0]!;
  // A failure rejects every call of the batch (admissionsOf's catch).
  const rows = await sql.query<
    { key: string | null; hits: number | null; token_id: string | null } & TokenRow
  >(HITS_AND_TOKENS, [keys, new Date(start).toISOString(), keys.map((k) => added.get(k)!), ids]);
  const total = new Map<string, number>();
  const tokens = new Map<string, TokenRow>();
  for (const r of rows)
    if (r.key !== null) total.set(r.key, Number(r.hits));
    else if (r.token_id !== null) tokens.set(r.token_id, r);
  // The calls naming a key took its last `added` places, in the order they arrived.
  const taken = new Map<string, number>();
  batch.forEach((w, i) => {
    const hits = named[i]!.map((key) => {
      const place = (taken.get(key) ?? 0) + 1;
      taken.set(key, place);
      return { key, hits: total.get(key)! - added.get(key)! + place };
    });
    const row = w.id === undefined ? undefined : tokens.get(w.id);
    w.resolve({
      counts: windowCounts(hits, new Date(start), windowMs, w.now),
      authenticate: () => judgeToken(sql, w.now, w.token, w.id, row),
    });
  });
}
