import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Gatehouse } from '../app/gatehouse.js';
import { csrfMatches } from '../core/sessions/sessions.js';
import type { Caller } from '../core/tokens/authenticate.js';

/** The session cookie: HttpOnly, SameSite=Lax, Secure unless the server is on loopback. */
export const SESSION_COOKIE = 'gatehouse_session';
/** Holds a sign-in under way, from /auth/login to /auth/callback only. */
export const SIGN_IN_COOKIE = 'gatehouse_sign_in';
/** What a state-changing call made with the session cookie must carry (ADR 0015). */
export const CSRF_HEADER = 'x-csrf-token';

/** Methods that change nothing: calls with them need no CSRF token. */
const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface CookieOptions {
  /** Send only over https; off when the server listens on loopback (plain http there). */
  secure: boolean;
}

/** One cookie's value from the Cookie header, or undefined; the first of a repeated name wins. */
export function readCookie(req: FastifyRequest, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    const value = part.slice(eq + 1).trim();
    return value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
  }
  return undefined;
}

/** Adds one Set-Cookie to the answer (keeping any already set). Values are base64url: no escaping. */
export function setCookie(
  reply: FastifyReply,
  name: string,
  value: string,
  opts: CookieOptions & { maxAgeSeconds: number; path?: string },
): void {
  const cookie = [
    `${name}=${value}`,
    `Path=${opts.path ?? '/'}`,
    `Max-Age=${Math.max(0, Math.floor(opts.maxAgeSeconds))}`,
    'HttpOnly',
    'SameSite=Lax',
    ...(opts.secure ? ['Secure'] : []),
  ].join('; ');
  const had = reply.getHeader('set-cookie');
  reply.header(
    'set-cookie',
    had === undefined ? [cookie] : [...(Array.isArray(had) ? had : [String(had)]), cookie],
  );
}

export function clearCookie(
  reply: FastifyReply,
  name: string,
  opts: CookieOptions & { path?: string },
): void {
  setCookie(reply, name, '', { ...opts, maxAgeSeconds: 0 });
}

const WHY: Record<string, string> = {
  invalid_session: 'the session is not valid: sign in again',
  session_expired: 'the session has expired: sign in again',
  session_ended: 'the session was signed out: sign in again',
  identity_inactive: "the session's identity is no longer active",
};

export type SessionResult =
  { ok: true; caller: Caller } | { ok: false; status: 401 | 403; code: string; message: string };

/**
 * Who calls through the session cookie, when the call carries no bearer token: undefined
 * without a cookie. A state-changing method also needs the session's CSRF token in the
 * X-CSRF-Token header (403 `csrf_failed` without it); a bearer-token call never does, since a
 * browser does not attach a token by itself.
 */
export async function sessionCaller(
  app: Pick<Gatehouse, 'sessions'>,
  req: FastifyRequest,
): Promise<SessionResult | undefined> {
  const cookie = readCookie(req, SESSION_COOKIE);
  if (cookie === undefined || cookie === '') return undefined;
  const auth = await app.sessions.authenticate(cookie);
  if (!auth.ok) return { ok: false, status: 401, code: auth.code, message: WHY[auth.code]! };
  if (!SAFE.has(req.method)) {
    const given = req.headers[CSRF_HEADER];
    if (!csrfMatches(cookie, typeof given === 'string' ? given : undefined))
      return {
        ok: false,
        status: 403,
        code: 'csrf_failed',
        message: `a ${req.method} with the session cookie needs the session's CSRF token in the X-CSRF-Token header (from GET /api/v1/me)`,
      };
  }
  return { ok: true, caller: auth.caller };
}
