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
 * An API call's rate-limit count and its token's row in one statement: the hit rows (key set),
 * then at most one token row (key null). Two round trips were the first thing every API call paid.
 */
const HIT_AND_TOKEN = prepared(`
  WITH hit AS (${HIT_SQL})
  SELECT key, hits, NULL::bytea AS secret_hash, NULL::text AS identity, NULL::text[] AS scopes,
         NULL::timestamptz AS expires_at, NULL::timestamptz AS revoked_at,
         NULL::timestamptz AS last_used_at, NULL::text AS status
    FROM hit
  UNION ALL
  SELECT NULL, NULL, ${TOKEN_COLUMNS}
    FROM api_tokens t JOIN identities i ON i.id = t.identity WHERE t.id = $3`);

export interface Admission {
  counts: WindowCount[];
  /** The token's authentication, from the row already read; called only if the call is let in. */
  authenticate(): Promise<Authentication>;
}

/**
 * Counts a call against each key (as countHits) and reads the row of the token it presents, in
 * one statement. The token is judged only when asked, so a call over its limit is refused before
 * anything about its token is decided or audited, as when the two were separate.
 */
export async function admitCall(
  sql: Sql,
  keys: readonly string[],
  windowMs: number,
  now: Date,
  token: string,
): Promise<Admission> {
  const start = windowStart(now, windowMs);
  const id = presentedTokenId(token);
  const rows = await sql.query<{ key: string | null; hits: number | null } & TokenRow>(
    HIT_AND_TOKEN,
    [keys, start.toISOString(), id ?? null],
  );
  const hits = rows.filter((r) => r.key !== null) as { key: string; hits: number }[];
  const row = rows.find((r) => r.key === null);
  return {
    counts: windowCounts(hits, start, windowMs, now),
    authenticate: () => judgeToken(sql, now, token, id, row),
  };
}
