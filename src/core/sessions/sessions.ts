import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { appendAudit } from '../audit/chain.js';
import { RefusedError } from '../errors.js';
import type { OidcSettings, SessionSettings } from '../model.js';
import type { Sql } from '../sql.js';
import type { Caller } from '../tokens/authenticate.js';
import type { Scope } from '../tokens/scopes.js';

/**
 * What every person's session may do (ADR 0015): read what they may see, request, approve and
 * review. The core's rules still decide each call; a scope only opens the route.
 */
export const SESSION_SCOPES: readonly Scope[] = ['read', 'request', 'approve', 'review'];
/** `audit` and `admin` come only from membership of a group named in `sessions.scopes`. */
export const ELEVATED_SESSION_SCOPES = ['audit', 'admin'] as const;
/** A working day: a session lives this long from sign-in unless `sessions.lifetime` says. */
export const DEFAULT_SESSION_SECONDS = 8 * 3600;
/** A sign-in must come back from the provider within this many seconds. */
export const SIGN_IN_SECONDS = 600;

export type SessionMethod = 'oidc' | 'demo';

/** The cookie is `ses_<id>_<secret>`: the id finds the row, the hash of the whole is compared. */
const COOKIE = /^ses_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
const NOBODY = Buffer.alloc(32);
const sha256 = (text: string): Buffer => createHash('sha256').update(text).digest();

/**
 * The CSRF token of a session: an HMAC keyed by the session cookie. Only who can read the cookie
 * can compute it, the browser's JavaScript cannot read the cookie (HttpOnly), and a page from
 * another site can read neither; so a request carrying it comes from Gatehouse's own pages or a
 * client that signed in. Nothing more is stored.
 */
export function csrfTokenFor(cookie: string): string {
  return createHmac('sha256', cookie).update('gatehouse csrf v1').digest('base64url');
}

/** Whether `given` is this session's CSRF token, compared in constant time. */
export function csrfMatches(cookie: string, given: string | undefined): boolean {
  if (given === undefined) return false;
  const want = Buffer.from(csrfTokenFor(cookie));
  const got = Buffer.from(given);
  return want.length === got.length && timingSafeEqual(want, got);
}

export interface SessionCaller extends Caller {
  session: NonNullable<Caller['session']>;
}

export type SessionAuthentication =
  | { ok: true; caller: SessionCaller }
  | {
      ok: false;
      code: 'invalid_session' | 'session_expired' | 'session_ended' | 'identity_inactive';
    };

/** The scopes a person's session carries: the four everyone has, and audit/admin by group. */
export function sessionScopes(
  groups: readonly string[],
  rule: SessionSettings['scopes'] | undefined,
): Scope[] {
  const scopes: Scope[] = [...SESSION_SCOPES];
  for (const s of ELEVATED_SESSION_SCOPES)
    if (rule?.[s]?.some((g) => groups.includes(g))) scopes.push(s);
  return scopes;
}

/**
 * Who holds this session cookie, if anyone, and with which scopes. Like a token: found by its
 * id part, hashes compared in constant time. The identity's status and groups are read on every
 * call, so a leaver's session stops at once and a group change takes effect on the next call.
 */
export async function authenticateSession(
  sql: Sql,
  now: Date,
  cookie: string,
  rule: SessionSettings['scopes'] | undefined,
): Promise<SessionAuthentication> {
  const m = COOKIE.exec(cookie);
  const [row] = m
    ? await sql.query<{
        secret_hash: Buffer | Uint8Array;
        identity: string;
        expires_at: Date;
        ended_at: Date | null;
        status: string;
        groups: string[];
      }>(
        `SELECT s.secret_hash, s.identity, s.expires_at, s.ended_at, i.status,
                ARRAY(SELECT g.group_id FROM group_members g WHERE g.identity_id = s.identity) AS groups
           FROM sessions s JOIN identities i ON i.id = s.identity WHERE s.id = $1`,
        [`ses_${m[1]}`],
      )
    : [];
  const stored = row ? Buffer.from(row.secret_hash) : NOBODY;
  const given = sha256(cookie);
  const same = stored.length === given.length && timingSafeEqual(stored, given);
  if (!row || !same) return { ok: false, code: 'invalid_session' };
  if (row.ended_at) return { ok: false, code: 'session_ended' };
  if (new Date(row.expires_at).getTime() <= now.getTime())
    return { ok: false, code: 'session_expired' };
  if (row.status !== 'active') return { ok: false, code: 'identity_inactive' };
  const id = `ses_${m![1]}`;
  return {
    ok: true,
    caller: {
      tokenId: id,
      identity: row.identity,
      scopes: sessionScopes(row.groups ?? [], rule),
      session: {
        id,
        csrfToken: csrfTokenFor(cookie),
        expiresAt: new Date(row.expires_at).toISOString(),
      },
    },
  };
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/** A claimed id as the audit log can hold it: storable text of a sensible length, or a marker. */
const auditable = (claimed: string) =>
  claimed.length > 0 &&
  claimed.length <= 256 &&
  !claimed.includes('\0') &&
  !LONE_SURROGATE.test(claimed)
    ? claimed
    : '(unreadable claim)';

const REFUSALS = {
  unknown_identity: 'is not an identity Gatehouse governs',
  identity_inactive: 'is not an active identity',
  not_a_person: 'is not a person: service accounts and agents use API tokens',
  email_unverified: 'is an email address the provider has not verified',
} as const;
type Refusal = keyof typeof REFUSALS;

export interface OpenSessionInput {
  /** The identity id the provider (or the demo picker) named. */
  claimed: string;
  method: SessionMethod;
  lifetimeSeconds: number;
  /** Refused whoever it names: the edge found the claim unfit (an unverified address). */
  refuse?: 'email_unverified';
  /** Facts for the audit event (the issuer, the claim's name); never a secret. */
  details?: Record<string, string>;
}

export interface OpenedSession {
  id: string;
  identity: string;
  /** The cookie's value: shown to the browser once, stored only as its SHA-256. */
  cookie: string;
  csrf_token: string;
  expires_at: string;
}

/**
 * A new session for an active identity; OIDC sessions for people only (a non-human identity
 * acts through API tokens with an owner). The session and its `session.started` event commit
 * together. A refusal (unknown, inactive, not a person) is audited as `session.refused` and
 * committed before the `RefusedError` is thrown.
 */
export async function openSession(
  sql: Sql,
  now: Date,
  input: OpenSessionInput,
): Promise<OpenedSession> {
  const idPart = randomBytes(8).toString('hex');
  const id = `ses_${idPart}`;
  const cookie = `${id}_${randomBytes(32).toString('base64url')}`;
  const expiresAt = new Date(now.getTime() + input.lifetimeSeconds * 1000);
  const claimed = auditable(input.claimed);
  const refusal = await sql.transaction(async (tx): Promise<Refusal | null> => {
    const [who] =
      claimed === input.claimed
        ? await tx.query<{ kind: string; status: string }>(
            'SELECT kind, status FROM identities WHERE id = $1 FOR SHARE',
            [claimed],
          )
        : [];
    const reason: Refusal | null = input.refuse
      ? input.refuse
      : !who
        ? 'unknown_identity'
        : who.status !== 'active'
          ? 'identity_inactive'
          : input.method === 'oidc' && who.kind !== 'human'
            ? 'not_a_person'
            : null;
    if (reason) {
      await appendAudit(tx, now, {
        actor: 'gatehouse',
        action: 'session.refused',
        subject: claimed,
        details: { method: input.method, reason, ...input.details },
      });
      return reason;
    }
    // Sessions long past are of no further use; the audit log keeps their story.
    await tx.query('DELETE FROM sessions WHERE expires_at < $1', [
      new Date(now.getTime() - 86400 * 1000),
    ]);
    await tx.query(
      `INSERT INTO sessions (id, identity, method, secret_hash, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6)`,
      [id, claimed, input.method, sha256(cookie), now, expiresAt],
    );
    await appendAudit(tx, now, {
      actor: claimed,
      action: 'session.started',
      subject: id,
      refs: [claimed],
      details: { method: input.method, expires_at: expiresAt.toISOString(), ...input.details },
    });
    return null;
  });
  if (refusal)
    throw new RefusedError(`sign-in refused: ${claimed} ${REFUSALS[refusal]}`, { code: refusal });
  return {
    id,
    identity: claimed,
    cookie,
    csrf_token: csrfTokenFor(cookie),
    expires_at: expiresAt.toISOString(),
  };
}

/** Ends the session this cookie holds, if it is live: `session.ended`, once. */
export async function endSession(sql: Sql, now: Date, cookie: string): Promise<boolean> {
  const m = COOKIE.exec(cookie);
  if (!m) return false;
  const id = `ses_${m[1]}`;
  return sql.transaction(async (tx) => {
    const [row] = await tx.query<{ identity: string; secret_hash: Buffer | Uint8Array }>(
      `SELECT identity, secret_hash FROM sessions
        WHERE id = $1 AND ended_at IS NULL AND expires_at > $2 FOR UPDATE`,
      [id, now],
    );
    const given = sha256(cookie);
    if (!row || !timingSafeEqual(Buffer.from(row.secret_hash), given)) return false;
    await tx.query('UPDATE sessions SET ended_at = $2 WHERE id = $1', [id, now]);
    await appendAudit(tx, now, {
      actor: row.identity,
      action: 'session.ended',
      subject: id,
      refs: [row.identity],
      details: {},
    });
    return true;
  });
}

export interface PendingSignIn {
  state: string;
  nonce: string;
  codeVerifier: string;
  redirectUri: string;
  returnTo: string;
}

/**
 * Keeps an OpenID Connect sign-in under way in the store (so the callback may reach any `serve`
 * process) under the hash of a fresh key, which the browser holds in a short-lived cookie.
 */
export async function beginSignIn(sql: Sql, now: Date, p: PendingSignIn): Promise<string> {
  const key = randomBytes(32).toString('base64url');
  await sql.transaction(async (tx) => {
    await tx.query('DELETE FROM sign_ins WHERE expires_at < $1', [now]);
    await tx.query(
      `INSERT INTO sign_ins (key_hash, state, nonce, code_verifier, redirect_uri, return_to, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [
        sha256(key),
        p.state,
        p.nonce,
        p.codeVerifier,
        p.redirectUri,
        p.returnTo,
        new Date(now.getTime() + SIGN_IN_SECONDS * 1000),
      ],
    );
  });
  return key;
}

/** The sign-in this key began, taken once: a second callback with the same cookie finds nothing. */
export async function takeSignIn(sql: Sql, now: Date, key: string): Promise<PendingSignIn | null> {
  const [row] = await sql.query<{
    state: string;
    nonce: string;
    code_verifier: string;
    redirect_uri: string;
    return_to: string;
    expires_at: Date;
  }>(
    `DELETE FROM sign_ins WHERE key_hash = $1
     RETURNING state, nonce, code_verifier, redirect_uri, return_to, expires_at`,
    [sha256(key)],
  );
  if (!row || new Date(row.expires_at).getTime() <= now.getTime()) return null;
  return {
    state: row.state,
    nonce: row.nonce,
    codeVerifier: row.code_verifier,
    redirectUri: row.redirect_uri,
    returnTo: row.return_to,
  };
}

/** Whether `gatehouse demo` made this store: only then is the demo sign-in offered. */
export async function isDemoStore(sql: Sql): Promise<boolean> {
  const [r] = await sql.query<{ value: string }>(`SELECT value FROM meta WHERE key = 'demo'`);
  return r?.value === 'true';
}

/** Marks the store as a demo store; done by `gatehouse demo` only, and never undone. */
export async function markDemoStore(sql: Sql): Promise<void> {
  await sql.query(
    `INSERT INTO meta (key, value) VALUES ('demo', 'true') ON CONFLICT (key) DO NOTHING`,
  );
}

/** The active identities a demo visitor may sign in as, people first. */
export async function demoIdentities(
  sql: Sql,
): Promise<{ id: string; kind: string; display_name: string }[]> {
  return sql.query(
    `SELECT id, kind, display_name FROM identities WHERE status = 'active'
      ORDER BY kind <> 'human', id LIMIT 1000`,
  );
}

/**
 * The sign-in use cases, wired for one store: what the HTTP edge calls. `settings` gives the
 * applied configuration's settings (the catalog's), read when needed so an `apply` takes effect.
 */
export function sessionUseCases(d: {
  sql: Sql;
  now: () => Date;
  settings: () => Promise<{ oidc?: OidcSettings; sessions?: SessionSettings }>;
}) {
  return {
    /** The applied `oidc:` and `sessions:` settings, with the session lifetime filled in. */
    async settings() {
      const s = await d.settings();
      return {
        oidc: s.oidc,
        lifetimeSeconds: s.sessions?.lifetime ?? DEFAULT_SESSION_SECONDS,
      };
    },
    open: (input: OpenSessionInput) => openSession(d.sql, d.now(), input),
    authenticate: async (cookie: string) =>
      authenticateSession(d.sql, d.now(), cookie, (await d.settings()).sessions?.scopes),
    end: (cookie: string) => endSession(d.sql, d.now(), cookie),
    beginSignIn: (p: PendingSignIn) => beginSignIn(d.sql, d.now(), p),
    takeSignIn: (key: string) => takeSignIn(d.sql, d.now(), key),
    isDemoStore: () => isDemoStore(d.sql),
    markDemoStore: () => markDemoStore(d.sql),
    demoIdentities: () => demoIdentities(d.sql),
  };
}
export type Sessions = ReturnType<typeof sessionUseCases>;
