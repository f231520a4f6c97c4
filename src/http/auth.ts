import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Gatehouse } from '../app/gatehouse.js';
import type { Authentication, Caller } from '../core/tokens/authenticate.js';
import type { Scope } from '../core/tokens/scopes.js';
import { errorBody } from './errors.js';
import type { RefusalAuditor } from './refusals.js';
import { sessionCaller } from './session.js';

declare module 'fastify' {
  interface FastifyRequest {
    caller: Caller | null;
    /** The bearer token, already read with the call's rate-limit count (hardening.ts). */
    presented: { token: string; authenticate: () => Promise<Authentication> } | null;
  }
}

/** RFC 6750: the scheme is case-insensitive; one token, nothing after it. */
const BEARER = /^bearer[ \t]+([^\s]+)[ \t]*$/i;

/** The bearer token of the call, as authentication reads it; undefined without one. */
export const bearerToken = (req: FastifyRequest): string | undefined =>
  BEARER.exec(req.headers.authorization ?? '')?.[1];

const WHY: Record<string, string> = {
  missing_token: 'send an API token as Authorization: Bearer TOKEN',
  invalid_token: 'the token is not valid',
  token_expired: 'the token has expired',
  token_revoked: 'the token was revoked',
  identity_inactive: "the token's identity is no longer active",
};

/**
 * The onRequest hook of a route open to these scopes: who calls is the token's identity, and a
 * token without one of the scopes is refused before the body is even read. Both refusals are
 * audited (`audit`, refusals.ts); the token's secret never is.
 */
export function requireScopes(
  app: Pick<Gatehouse, 'authenticate' | 'sessions'>,
  scopes: readonly Scope[],
  audit?: RefusalAuditor,
) {
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const m = BEARER.exec(req.headers.authorization ?? '');
    // Without a bearer token, a signed-in person's session cookie (session.ts, ADR 0015).
    const session = m ? undefined : await sessionCaller(app, req);
    if (session && !session.ok) {
      await audit?.(req, {
        kind: session.status === 401 ? 'unauthenticated' : 'refused',
        code: session.code,
        via: 'ui',
      });
      return reply.code(session.status).send(errorBody(req, session.code, session.message));
    }
    const presented = m && req.presented?.token === m[1] ? req.presented : undefined;
    const auth = session
      ? session
      : m
        ? await (presented ? presented.authenticate() : app.authenticate(m[1]!))
        : ({ ok: false, code: 'missing_token' } as const);
    if (!auth.ok) {
      await audit?.(req, {
        kind: 'unauthenticated',
        code: auth.code,
        actor: 'identity' in auth ? auth.identity : undefined,
        token: 'tokenId' in auth ? auth.tokenId : undefined,
        ...(session ? { via: 'ui' as const } : {}),
      });
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer')
        .send(errorBody(req, auth.code, WHY[auth.code]!));
    }
    if (!auth.caller.scopes.some((s) => scopes.includes(s))) {
      await audit?.(req, {
        kind: 'refused',
        code: 'insufficient_scope',
        actor: auth.caller.identity,
        token: auth.caller.tokenId,
        ...(auth.caller.session ? { via: 'ui' as const } : {}),
      });
      return reply
        .code(403)
        .send(
          errorBody(
            req,
            'insufficient_scope',
            `this call needs a token with scope ${scopes.join(' or ')}; this one has ${auth.caller.scopes.join(', ')}`,
          ),
        );
    }
    req.caller = auth.caller;
  };
}
