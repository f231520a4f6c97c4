import { timingSafeEqual } from 'node:crypto';
import { type Sql, prepared } from '../sql.js';
import type { Scope } from './scopes.js';
import { TOKEN_FORMAT, hashToken } from './tokens.js';

export interface Caller {
  /** The credential's id: a token's `tok_…`, or a signed-in session's `ses_…`. */
  tokenId: string;
  identity: string;
  scopes: Scope[];
  /** Set when a person's session cookie (not a token) authenticated the call (ADR 0015). */
  session?: { id: string; csrfToken: string; expiresAt: string };
}

export type Authentication =
  | { ok: true; caller: Caller }
  | {
      ok: false;
      code: 'invalid_token' | 'token_expired' | 'token_revoked' | 'identity_inactive';
      /** The token's id and identity, once the secret matched: who tried, for the audit trail. */
      tokenId?: string;
      identity?: string;
    };

/** A token's row as authentication reads it. */
export interface TokenRow {
  secret_hash: Buffer | Uint8Array;
  identity: string;
  scopes: Scope[];
  expires_at: Date;
  revoked_at: Date | null;
  last_used_at: Date | null;
  status: string;
}

/** The columns of TokenRow, from `api_tokens t JOIN identities i`. */
export const TOKEN_COLUMNS =
  't.secret_hash, t.identity, t.scopes, t.expires_at, t.revoked_at, t.last_used_at, i.status';

// Read on every API call, so planned once per connection.
const TOKEN_ROW = prepared(`SELECT ${TOKEN_COLUMNS}
  FROM api_tokens t JOIN identities i ON i.id = t.identity WHERE t.id = $1`);

/** Recording every use would make each call a write; once a minute says what `list` needs. */
const LAST_USED_GRANULARITY_MS = 60_000;
const NOBODY = Buffer.alloc(32);

/** The id a presented token names (`tok_…`), whether or not it exists; undefined if malformed. */
export function presentedTokenId(token: string): string | undefined {
  const m = TOKEN_FORMAT.exec(token);
  return m ? `tok_${m[1]}` : undefined;
}

/**
 * Who presents this token, if anyone. The row is found by the id part of the token and the hashes
 * compared in constant time, so neither the lookup nor the comparison tells an attacker how much
 * of a guess was right. A token whose identity has since been suspended or has left acts for
 * nobody.
 */
export async function authenticateToken(
  sql: Sql,
  now: Date,
  token: string,
): Promise<Authentication> {
  const id = presentedTokenId(token);
  const [row] = id ? await sql.query<TokenRow>(TOKEN_ROW, [id]) : [];
  return judgeToken(sql, now, token, id, row);
}

/**
 * authenticateToken once the row of the token's id (presentedTokenId's) has been read, or found
 * missing: by itself, or in the statement that also counted the call against its rate limits
 * (admit.ts).
 */
export async function judgeToken(
  sql: Sql,
  now: Date,
  token: string,
  id: string | undefined,
  row: TokenRow | undefined,
): Promise<Authentication> {
  const given = hashToken(token);
  const stored = row ? Buffer.from(row.secret_hash) : NOBODY;
  const same = stored.length === given.length && timingSafeEqual(stored, given);
  if (!row || !same || !id) return { ok: false, code: 'invalid_token' };
  const who = { tokenId: id, identity: row.identity };
  if (row.revoked_at) return { ok: false, code: 'token_revoked', ...who };
  if (new Date(row.expires_at).getTime() <= now.getTime())
    return { ok: false, code: 'token_expired', ...who };
  if (row.status !== 'active') return { ok: false, code: 'identity_inactive', ...who };
  const last = row.last_used_at ? new Date(row.last_used_at).getTime() : 0;
  if (now.getTime() - last >= LAST_USED_GRANULARITY_MS) {
    // The calls counted together (admit.ts) share one row: the first to get here records the
    // use for all of them, instead of each queueing on the token row's lock for a no-op.
    row.last_used_at = now;
    await sql.query(
      'UPDATE api_tokens SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)',
      [id, now],
    );
  }
  return { ok: true, caller: { tokenId: id, identity: row.identity, scopes: row.scopes } };
}
