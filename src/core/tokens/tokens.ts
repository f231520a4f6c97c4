import { createHash, randomBytes } from 'node:crypto';
import { appendAudit } from '../audit/chain.js';
import { ConflictError, InputError, NotFoundError } from '../errors.js';
import type { Via } from '../model.js';
import { type PageInput, cutPage, decodeCursor, instantKey, pageLimit } from '../paging.js';
import type { Sql } from '../sql.js';
import { type Scope, parseScopes } from './scopes.js';

/** API.md's default lifetime of a token; a longer-lived one is asked for explicitly. */
export const DEFAULT_TOKEN_SECONDS = 90 * 86400;
/** Nothing lives for ever: a token that must outlast a year is created again. */
export const MAX_TOKEN_SECONDS = 366 * 86400;

/**
 * A token is `gh_<id>_<secret>`: the id part finds the row by primary key, so checking a token is
 * one indexed read and a constant-time comparison of hashes, never a lookup by the secret itself.
 */
const TOKEN = /^gh_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

export const hashToken = (token: string): Buffer => createHash('sha256').update(token).digest();

export interface TokenView {
  id: string;
  identity: string;
  scopes: Scope[];
  created_at: string;
  expires_at: string;
  revoked_at: string | null;
  last_used_at: string | null;
  created_by: string;
}

interface TokenRow {
  id: string;
  identity: string;
  scopes: Scope[];
  created_at: Date;
  expires_at: Date;
  revoked_at: Date | null;
  last_used_at: Date | null;
  created_by: string;
}

const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);
const view = (r: TokenRow): TokenView => ({
  id: r.id,
  identity: r.identity,
  scopes: r.scopes,
  created_at: iso(r.created_at)!,
  expires_at: iso(r.expires_at)!,
  revoked_at: iso(r.revoked_at),
  last_used_at: iso(r.last_used_at),
  created_by: r.created_by,
});

export interface CreateTokenInput {
  identity: string;
  scopes: string | readonly string[];
  /** Seconds from now; API.md's 90 days when absent. */
  expiresInSeconds?: number | undefined;
  actor: string;
  via: Via;
}

/**
 * A new token for an identity that exists and is active; a non-human identity needs an active
 * owner, who answers for what the token does. The secret is returned here and nowhere else:
 * the store keeps its SHA-256, the audit event its id, identity, scopes and expiry.
 */
export async function createToken(
  sql: Sql,
  now: Date,
  input: CreateTokenInput,
): Promise<{ id: string; token: string; identity: string; scopes: Scope[]; expires_at: string }> {
  const scopes = parseScopes(input.scopes);
  const seconds = input.expiresInSeconds ?? DEFAULT_TOKEN_SECONDS;
  if (!Number.isInteger(seconds) || seconds <= 0 || seconds > MAX_TOKEN_SECONDS)
    throw new InputError(
      `expires: a token lives from 1 second to ${MAX_TOKEN_SECONDS / 86400} days`,
      { code: 'invalid_token_expiry', field: 'expires' },
    );
  const idPart = randomBytes(8).toString('hex');
  const id = `tok_${idPart}`;
  const token = `gh_${idPart}_${randomBytes(32).toString('base64url')}`;
  const expiresAt = new Date(now.getTime() + seconds * 1000);
  await sql.transaction(async (tx) => {
    const [who] = await tx.query<{
      kind: string;
      status: string;
      owner: string;
      owner_status: string | null;
    }>(
      `SELECT i.kind, i.status, i.owner, o.status AS owner_status
         FROM identities i LEFT JOIN identities o ON o.id = NULLIF(i.owner, '')
        WHERE i.id = $1 FOR SHARE OF i`,
      [input.identity],
    );
    if (!who)
      throw new NotFoundError(`unknown identity "${input.identity}"`, { field: 'identity' });
    if (who.status !== 'active')
      throw new ConflictError(
        `identity ${input.identity} is ${who.status}: a token acts for an active identity only`,
        { code: 'token_identity_inactive', field: 'identity' },
      );
    if (who.kind !== 'human' && who.owner_status !== 'active')
      throw new ConflictError(
        `identity ${input.identity} is a ${who.kind} without an active owner: its token needs someone who answers for it`,
        { code: 'token_identity_unowned', field: 'identity' },
      );
    await tx.query(
      `INSERT INTO api_tokens (id, identity, scopes, secret_hash, created_at, expires_at, created_by)
       VALUES ($1, $2, $3::text[], $4, $5, $6, $7)`,
      [id, input.identity, scopes, hashToken(token), now, expiresAt, input.actor],
    );
    await appendAudit(tx, now, {
      actor: input.actor,
      action: 'token.created',
      subject: id,
      details: {
        identity: input.identity,
        scopes,
        expires_at: expiresAt.toISOString(),
        via: input.via,
      },
    });
  });
  return { id, token, identity: input.identity, scopes, expires_at: expiresAt.toISOString() };
}

/** Tokens in the order they were made, a keyset page at a time; never their secrets. */
export async function listTokens(
  sql: Sql,
  page: PageInput = {},
): Promise<{ tokens: TokenView[]; next_cursor: string | null }> {
  const limit = pageLimit(page.limit);
  const after = decodeCursor(page.cursor, 'tokens', ['instant', 'text']);
  const rows = await sql.query<TokenRow & { page_at: string }>(
    `SELECT id, identity, scopes, created_at, expires_at, revoked_at, last_used_at, created_by,
            ${instantKey('created_at')} AS page_at
       FROM api_tokens ${after ? 'WHERE (created_at, id) > ($2::timestamptz, $3)' : ''}
      ORDER BY created_at, id LIMIT $1`,
    after ? [limit + 1, after[0], after[1]] : [limit + 1],
  );
  const cut = cutPage(rows, limit, 'tokens', (r) => [r.page_at, r.id]);
  return { tokens: cut.rows.map(view), next_cursor: cut.next_cursor };
}

/** Revokes a token at once; revoking one already revoked is a conflict, not a second event. */
export async function revokeToken(
  sql: Sql,
  now: Date,
  r: { id: string; actor: string; via: Via },
): Promise<TokenView> {
  return sql.transaction(async (tx) => {
    const [row] = await tx.query<TokenRow>(
      `SELECT id, identity, scopes, created_at, expires_at, revoked_at, last_used_at, created_by
         FROM api_tokens WHERE id = $1 FOR UPDATE`,
      [r.id],
    );
    if (!row) throw new NotFoundError(`unknown token "${r.id}"`, { field: 'id' });
    if (row.revoked_at)
      throw new ConflictError(`token ${r.id} was revoked at ${iso(row.revoked_at)}`, {
        code: 'token_already_revoked',
      });
    await tx.query('UPDATE api_tokens SET revoked_at = $2 WHERE id = $1', [r.id, now]);
    await appendAudit(tx, now, {
      actor: r.actor,
      action: 'token.revoked',
      subject: r.id,
      details: { identity: row.identity, via: r.via },
    });
    return view({ ...row, revoked_at: now });
  });
}

export { TOKEN as TOKEN_FORMAT };
