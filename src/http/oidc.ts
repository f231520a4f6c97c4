import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import * as client from 'openid-client';
import { z } from 'zod';
import type { Gatehouse } from '../app/gatehouse.js';
import { InputError } from '../core/errors.js';
import type { OidcSettings } from '../core/model.js';
import { SIGN_IN_SECONDS } from '../core/sessions/sessions.js';
import { errorBody } from './errors.js';
import { jsonSchema } from './schema.js';
import {
  type CookieOptions,
  SESSION_COOKIE,
  SIGN_IN_COOKIE,
  clearCookie,
  readCookie,
  sessionCaller,
  setCookie,
} from './session.js';

export interface SignInOptions {
  /** Where `oidc.client_secret`'s ${VAR} is read; the process environment by default. */
  env?: Record<string, string | undefined>;
  /** The cookies' Secure flag: on unless the server listens on loopback (plain http). */
  cookieSecure?: boolean;
  /** Where a provider's failure goes (the answer names the failure, never its detail). */
  onError?: (requestId: string, error: unknown) => void;
}

const REFERENCE = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/;

/**
 * The client secret `oidc.client_secret` refers to. An unset or empty variable is refused: a
 * sign-in never runs on a default or blank secret. Messages name the variable, never a value.
 */
export function resolveClientSecret(
  oidc: OidcSettings,
  env: Record<string, string | undefined>,
): string {
  const m = REFERENCE.exec(oidc.clientSecret);
  if (!m)
    throw new InputError(
      'oidc.client_secret must be a reference such as ${OIDC_CLIENT_SECRET}, resolved from the environment',
      { code: 'oidc_secret_invalid', field: 'oidc.client_secret' },
    );
  const value = env[m[1]!];
  if (value === undefined || value.trim() === '')
    throw new InputError(
      `oidc.client_secret refers to \${${m[1]}}, which is ${value === undefined ? 'not set' : 'empty'}: people cannot sign in without the client secret; set it in the environment of serve`,
      { code: 'oidc_secret_missing', field: 'oidc.client_secret' },
    );
  return value;
}

/**
 * serve's start-up check: when the applied configuration has `oidc:`, its client secret must
 * resolve to a non-empty value, or serve does not start.
 */
export async function checkSignIn(
  app: Pick<Gatehouse, 'sessions'>,
  env: Record<string, string | undefined>,
): Promise<void> {
  const { oidc } = await app.sessions.settings();
  if (oidc) resolveClientSecret(oidc, env);
}

const LOOPBACK = new Set(['127.0.0.1', '[::1]', 'localhost']);

/** A same-site path to come back to after sign-in: never another site (`//evil`, `/\evil`). */
function returnPath(value: string | undefined): string {
  if (!value || !value.startsWith('/') || value.startsWith('//') || value.includes('\\'))
    return '/';
  return /^[\x21-\x7e]*$/.test(value) ? value : '/';
}

const loginQuery = z.strictObject({ return_to: z.string().max(2000).optional() });
const callbackQuery = z.record(z.string(), z.string().max(8192));
const demoBody = z.strictObject({ identity: z.string().min(1).max(256) });

/** Provider answers refused here (401): the provider said no, or its answer failed a check. */
class SignInFailed extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * People's sign-in (ADR 0015): OpenID Connect authorization code with PKCE at /auth/login and
 * /auth/callback, sign-out at /auth/logout, and on a demo store only, the demo sign-in at
 * /auth/demo. Everything a sign-in needs between the two legs is kept in the store, so any
 * `serve` process can finish what another began.
 */
export function registerSignIn(
  server: FastifyInstance,
  app: Pick<Gatehouse, 'sessions'>,
  opts: SignInOptions = {},
): void {
  const env = opts.env ?? process.env;
  const cookies: CookieOptions = { secure: opts.cookieSecure ?? true };
  const onError = opts.onError ?? (() => undefined);
  // Discovery once per provider, client and secret; a failed one is tried again next time.
  const configs = new Map<string, Promise<client.Configuration>>();
  const configFor = (oidc: OidcSettings): Promise<client.Configuration> => {
    const secret = resolveClientSecret(oidc, env);
    const key = createHash('sha256')
      .update(JSON.stringify([oidc.issuer, oidc.clientId, secret]))
      .digest('hex');
    let found = configs.get(key);
    if (!found) {
      const issuer = new URL(oidc.issuer);
      // openid-client refuses plain http; the configuration allows it for this machine only.
      const insecure = issuer.protocol === 'http:' && LOOPBACK.has(issuer.hostname);
      found = client.discovery(issuer, oidc.clientId, secret, undefined, {
        timeout: 10,
        ...(insecure ? { execute: [client.allowInsecureRequests] } : {}),
      });
      found.catch(() => configs.delete(key));
      configs.set(key, found);
    }
    return found;
  };

  const notConfigured = (req: FastifyRequest, reply: FastifyReply) =>
    reply
      .code(404)
      .send(
        errorBody(
          req,
          'sign_in_not_configured',
          'this Gatehouse has no oidc: section in gatehouse.yaml, so nobody signs in here',
        ),
      );
  const providerDown = (req: FastifyRequest, reply: FastifyReply, e: unknown) => {
    // Which variable is missing is for the operator's log, not for whoever tries to sign in.
    onError(String(req.id), e);
    return e instanceof InputError
      ? reply
          .code(503)
          .send(
            errorBody(
              req,
              'sign_in_unavailable',
              'sign-in is not available: this server has no OpenID client secret',
            ),
          )
      : reply
          .code(503)
          .send(
            errorBody(req, 'provider_unavailable', 'the OpenID provider did not answer; try again'),
          );
  };

  server.addHook('onRequest', async (req, reply) => {
    if (req.url.startsWith('/auth/')) void reply.header('cache-control', 'no-store');
  });

  server.get('/auth/methods', { schema: { hide: true } }, async () => {
    const { oidc } = await app.sessions.settings();
    return { oidc: oidc !== undefined, demo: await app.sessions.isDemoStore() };
  });

  server.get(
    '/auth/login',
    { schema: { hide: true, querystring: jsonSchema(loginQuery) } },
    async (req, reply) => {
      const { oidc } = await app.sessions.settings();
      if (!oidc) return notConfigured(req, reply);
      let config: client.Configuration;
      try {
        config = await configFor(oidc);
      } catch (e) {
        return providerDown(req, reply, e);
      }
      const codeVerifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      const nonce = client.randomNonce();
      const redirectUri = oidc.redirectUri ?? `${req.protocol}://${req.host}/auth/callback`;
      const url = client.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri,
        scope: 'openid email profile',
        code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
        code_challenge_method: 'S256',
        state,
        nonce,
      });
      const key = await app.sessions.beginSignIn({
        state,
        nonce,
        codeVerifier,
        redirectUri,
        returnTo: returnPath((req.query as z.output<typeof loginQuery>).return_to),
      });
      setCookie(reply, SIGN_IN_COOKIE, key, {
        ...cookies,
        maxAgeSeconds: SIGN_IN_SECONDS,
        path: '/auth',
      });
      return reply.code(303).header('location', url.href).send();
    },
  );

  server.get(
    '/auth/callback',
    { schema: { hide: true, querystring: jsonSchema(callbackQuery) } },
    async (req, reply) => {
      const key = readCookie(req, SIGN_IN_COOKIE);
      clearCookie(reply, SIGN_IN_COOKIE, { ...cookies, path: '/auth' });
      const pending = key ? await app.sessions.takeSignIn(key) : null;
      if (!pending)
        return reply
          .code(400)
          .send(
            errorBody(
              req,
              'sign_in_expired',
              'no sign-in is under way in this browser, or it took too long: start again at /auth/login',
            ),
          );
      const { oidc, lifetimeSeconds } = await app.sessions.settings();
      if (!oidc) return notConfigured(req, reply);
      let config: client.Configuration;
      try {
        config = await configFor(oidc);
      } catch (e) {
        return providerDown(req, reply, e);
      }
      let claimed: string;
      let emailVerified: unknown;
      try {
        const current = new URL(pending.redirectUri);
        current.search = new URL(req.url, 'http://callback.invalid').search;
        const tokens = await client
          .authorizationCodeGrant(config, current, {
            pkceCodeVerifier: pending.codeVerifier,
            expectedState: pending.state,
            expectedNonce: pending.nonce,
            idTokenExpected: true,
          })
          .catch((e: unknown) => {
            if (e instanceof client.AuthorizationResponseError)
              throw new SignInFailed('sign_in_denied', `the OpenID provider answered ${e.error}`);
            onError(String(req.id), e);
            throw new SignInFailed(
              'sign_in_failed',
              "the OpenID provider's answer failed a check (state, code, PKCE or ID token): start again at /auth/login",
            );
          });
        const idClaims = tokens.claims()!;
        let value: unknown = idClaims[oidc.identityClaim];
        emailVerified = idClaims.email_verified;
        if (value === undefined) {
          // Providers put scope claims (email…) in userinfo rather than the ID token.
          const info = await client
            .fetchUserInfo(config, tokens.access_token, idClaims.sub)
            .catch((e: unknown) => {
              onError(String(req.id), e);
              throw new SignInFailed('sign_in_failed', 'the OpenID provider’s userinfo failed');
            });
          value = info[oidc.identityClaim];
          emailVerified = info.email_verified;
        }
        if (typeof value !== 'string' || value === '')
          throw new SignInFailed(
            'identity_claim_missing',
            `the OpenID provider named nobody: its answer has no ${oidc.identityClaim} claim`,
          );
        claimed = value;
      } catch (e) {
        if (!(e instanceof SignInFailed)) throw e;
        return reply.code(401).send(errorBody(req, e.code, e.message));
      }
      const opened = await app.sessions.open({
        claimed,
        method: 'oidc',
        lifetimeSeconds,
        // An address the provider has not verified names nobody: anyone may type it.
        ...(oidc.identityClaim === 'email' && emailVerified !== true
          ? { refuse: 'email_unverified' as const }
          : {}),
        details: { issuer: oidc.issuer, claim: oidc.identityClaim },
      });
      setCookie(reply, SESSION_COOKIE, opened.cookie, {
        ...cookies,
        maxAgeSeconds: lifetimeSeconds,
      });
      return reply.code(303).header('location', pending.returnTo).send();
    },
  );

  server.post('/auth/logout', { schema: { hide: true } }, async (req, reply) => {
    const s = await sessionCaller(app, req);
    if (s && !s.ok && s.status === 403)
      return reply.code(403).send(errorBody(req, s.code, s.message));
    const ended = s?.ok ? await app.sessions.end(readCookie(req, SESSION_COOKIE)!) : false;
    clearCookie(reply, SESSION_COOKIE, cookies);
    return { signed_out: ended };
  });

  const demoOnly = async (req: FastifyRequest, reply: FastifyReply) => {
    // A production store answers as if the route did not exist: it never offers a demo sign-in.
    if (!(await app.sessions.isDemoStore()))
      return reply
        .code(404)
        .send(errorBody(req, 'not_found', `no route ${req.method} ${req.url.split('?')[0]}`));
  };

  server.get('/auth/demo', { schema: { hide: true }, onRequest: demoOnly }, async () => ({
    demo: true,
    label:
      'Demo sign-in: no password, act as any identity of this demo organisation. A production store never offers it.',
    identities: await app.sessions.demoIdentities(),
  }));

  server.post(
    '/auth/demo',
    { schema: { hide: true, body: jsonSchema(demoBody) }, onRequest: demoOnly },
    async (req, reply) => {
      const { lifetimeSeconds } = await app.sessions.settings();
      const opened = await app.sessions.open({
        claimed: (req.body as z.output<typeof demoBody>).identity,
        method: 'demo',
        lifetimeSeconds,
        details: { demo: 'true' },
      });
      setCookie(reply, SESSION_COOKIE, opened.cookie, {
        ...cookies,
        maxAgeSeconds: lifetimeSeconds,
      });
      return {
        demo: true,
        identity: opened.identity,
        session: opened.id,
        csrf_token: opened.csrf_token,
        expires_at: opened.expires_at,
      };
    },
  );
}
