import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { loadSnapshot } from '../config/snapshot.js';
import { DEMO_PEOPLE } from '../demo/seed.js';
import { type ApiFixture, apiFixture } from '../testing/api.js';
import { type TestProvider, startTestProvider } from '../testing/oidc-provider.js';
import { migrationFiles } from '../store/migrate.js';
import { checkSignIn } from './oidc.js';
import { buildServer } from './server.js';
import * as shapes from './shapes.js';

const SECRET = 'client-secret-for-this-test-only';
const REDIRECT = 'http://127.0.0.1:8080/auth/callback';

const oidcYaml = (issuer: string) => `
oidc:
  issuer: ${issuer}
  client_id: gatehouse
  client_secret: \${OIDC_CLIENT_SECRET}
  identity_claim: email
  redirect_uri: ${REDIRECT}
sessions:
  lifetime: 8h
  scopes:
    audit: [security]
`;

/** Set-Cookie headers of an answer, by cookie name: the value and the attributes as written. */
function setCookies(res: LightMyRequestResponse): Map<string, { value: string; attrs: string[] }> {
  const raw = res.headers['set-cookie'];
  const list = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  return new Map(
    list.map((c) => {
      const [pair, ...attrs] = c.split(';').map((s) => s.trim());
      const eq = pair!.indexOf('=');
      return [pair!.slice(0, eq), { value: pair!.slice(eq + 1), attrs }];
    }),
  );
}

describe('sign-in with OpenID Connect against a real provider', () => {
  let provider: TestProvider;
  let f: ApiFixture;
  before(async () => {
    provider = await startTestProvider({
      clientId: 'gatehouse',
      clientSecret: SECRET,
      redirectUri: REDIRECT,
      unverified: ['bob@acme.test'],
    });
    f = await apiFixture({
      settings: oidcYaml(provider.issuer),
      signIn: { env: { OIDC_CLIENT_SECRET: SECRET }, cookieSecure: false },
    });
  });
  after(async () => {
    await f?.close();
    await provider?.close();
  });

  /** /auth/login, the provider's login and consent, and the callback: the callback's answer. */
  async function signIn(login: string, tamper?: (callback: URL) => void, returnTo = '/requests') {
    const start = await f.call('GET', `/auth/login?return_to=${encodeURIComponent(returnTo)}`);
    assert.equal(start.statusCode, 303, start.body);
    const location = new URL(start.headers.location as string);
    assert.ok(location.href.startsWith(provider.issuer), 'the browser is sent to the provider');
    assert.equal(location.searchParams.get('code_challenge_method'), 'S256', 'PKCE');
    assert.ok(location.searchParams.get('code_challenge'));
    assert.equal(location.searchParams.get('redirect_uri'), REDIRECT);
    const pending = setCookies(start).get('gatehouse_sign_in')!;
    assert.ok(pending.attrs.includes('HttpOnly') && pending.attrs.includes('SameSite=Lax'));
    const back = await provider.signIn(location.href, login);
    assert.ok(back.href.startsWith(REDIRECT), `the provider sends the browser back: ${back.href}`);
    tamper?.(back);
    const cookie = `gatehouse_sign_in=${pending.value}`;
    const res = await f.call('GET', `/auth/callback${back.search}`, undefined, undefined, {
      cookie,
    });
    return { res, cookie, back };
  }

  test('a person signs in with the authorization code and PKCE, reads /api/v1/me with the session cookie, and approves with the CSRF header, which satisfies approval.authenticated_only', async () => {
    const alice = await f.token('alice@acme.test', 'request');
    const made = await f.call('POST', '/api/v1/requests', alice, {
      entitlement: 'analytics:writer',
      beneficiary: 'alice@acme.test',
      reason: 'quarterly close work',
    });
    assert.equal(made.statusCode, 201, made.body);
    const requestId = made.json().id as string;

    const { res } = await signIn('carol@acme.test');
    assert.equal(res.statusCode, 303, res.body);
    assert.equal(res.headers.location, '/requests', 'back where the person started');
    const session = setCookies(res).get('gatehouse_session')!;
    assert.ok(session, 'a session cookie is set');
    assert.ok(session.attrs.includes('HttpOnly'));
    assert.ok(session.attrs.includes('SameSite=Lax'));
    assert.ok(!session.attrs.includes('Secure'), 'no Secure flag on loopback');
    assert.ok(session.attrs.includes('Max-Age=28800'));
    const cookie = { cookie: `gatehouse_session=${session.value}` };

    const me = await f.call('GET', '/api/v1/me', undefined, undefined, cookie);
    assert.equal(me.statusCode, 200, me.body);
    const mine = shapes.me.parse(me.json());
    assert.equal(mine.identity, 'carol@acme.test');
    assert.deepEqual(mine.scopes, ['read', 'request', 'approve', 'review']);
    assert.deepEqual(mine.waiting.requests, [requestId]);
    const csrf = me.json().csrf_token as string;
    assert.match(csrf, /^[A-Za-z0-9_-]{43}$/);
    const [stored] = await f.store.sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM sessions WHERE identity = 'carol@acme.test' AND method = 'oidc'`,
    );
    assert.equal(stored!.n, 1, 'the session is in the store, so every serve process knows it');

    const url = `/api/v1/requests/${requestId}/approve`;
    const bare = await f.call('POST', url, undefined, { comment: 'ok' }, cookie);
    assert.equal(bare.statusCode, 403, 'a cookie alone does not change anything');
    assert.equal(bare.json().error.code, 'csrf_failed');
    assert.ok(bare.json().request_id);
    const wrong = await f.call(
      'POST',
      url,
      undefined,
      { comment: 'ok' },
      {
        ...cookie,
        'x-csrf-token': csrf.slice(0, -2) + (csrf.endsWith('AA') ? 'BB' : 'AA'),
      },
    );
    assert.equal(wrong.statusCode, 403);
    assert.equal(wrong.json().error.code, 'csrf_failed');

    const approved = await f.call(
      'POST',
      url,
      undefined,
      { comment: 'ok for the close' },
      {
        ...cookie,
        'x-csrf-token': csrf,
      },
    );
    assert.equal(approved.statusCode, 200, approved.body);
    assert.equal(approved.json().status, 'approved');
    const [event] = await f.store.sql.query<{ actor: string; details: { via: string } }>(
      `SELECT actor, details FROM audit_events WHERE action = 'request.approved' AND subject = $1`,
      [requestId],
    );
    assert.equal(event!.actor, 'carol@acme.test');
    assert.equal(event!.details.via, 'ui'); // a browser session's call is recorded as via ui (ADR 0024)
    const [started] = await f.store.sql.query<{ actor: string; details: Record<string, string> }>(
      `SELECT actor, details FROM audit_events WHERE action = 'session.started' AND subject = $1`,
      [mine.token],
    );
    assert.equal(started!.actor, 'carol@acme.test');
    assert.equal(started!.details.method, 'oidc');
    assert.equal(started!.details.issuer, provider.issuer);

    const out = await f.call('POST', '/auth/logout', undefined, undefined, cookie);
    assert.equal(out.statusCode, 403, 'signing out with the cookie needs the CSRF token too');
    const signedOut = await f.call('POST', '/auth/logout', undefined, undefined, {
      ...cookie,
      'x-csrf-token': csrf,
    });
    assert.equal(signedOut.statusCode, 200, signedOut.body);
    assert.deepEqual(signedOut.json(), { signed_out: true });
    assert.ok(setCookies(signedOut).get('gatehouse_session')!.attrs.includes('Max-Age=0'));
    const gone = await f.call('GET', '/api/v1/me', undefined, undefined, cookie);
    assert.equal(gone.statusCode, 401);
    assert.equal(gone.json().error.code, 'session_ended');
    assert.deepEqual(f.internalErrors, []);
  });

  test('a callback whose state differs from the sign-in it ends is refused, a sign-in is used once, and it never returns to another site', async () => {
    const { res, cookie, back } = await signIn('carol@acme.test', (u) =>
      u.searchParams.set('state', 'forged-state'),
    );
    assert.equal(res.statusCode, 401, res.body);
    assert.equal(res.json().error.code, 'sign_in_failed');
    assert.equal(setCookies(res).get('gatehouse_session'), undefined, 'no session');

    back.searchParams.delete('state');
    const replay = await f.call('GET', `/auth/callback${back.search}`, undefined, undefined, {
      cookie,
    });
    assert.equal(replay.statusCode, 400, 'the sign-in was taken by the first callback');
    assert.equal(replay.json().error.code, 'sign_in_expired');
    for (const elsewhere of ['//evil.test/x', 'https://evil.test/', '/\\evil.test']) {
      const { res: sent } = await signIn('carol@acme.test', undefined, elsewhere);
      assert.equal(sent.statusCode, 303, sent.body);
      assert.equal(sent.headers.location, '/', `never back to ${elsewhere}`);
    }
    const none = await f.call('GET', '/auth/callback?code=x&state=y');
    assert.equal(none.statusCode, 400, 'a callback without the sign-in cookie ends nothing');
    assert.equal(none.json().error.code, 'sign_in_expired');
  });

  test('an unknown person, a leaver and an unverified address are refused at sign-in, and each refusal is audited', async () => {
    const people = await loadSnapshot(DEMO_PEOPLE);
    await f.app.sync(
      people.map((p) => (p.id === 'dan@acme.test' ? { ...p, status: 'terminated' as const } : p)),
      'test',
      ['human'],
    );
    for (const [login, code] of [
      ['mallory@acme.test', 'unknown_identity'],
      ['dan@acme.test', 'identity_inactive'],
      ['bob@acme.test', 'email_unverified'],
    ] as const) {
      const { res } = await signIn(login);
      assert.equal(res.statusCode, 403, `${login}: ${res.body}`);
      assert.equal(res.json().error.code, code);
      assert.equal(setCookies(res).get('gatehouse_session'), undefined);
      const [event] = await f.store.sql.query<{ actor: string; details: { reason: string } }>(
        `SELECT actor, details FROM audit_events WHERE action = 'session.refused' AND subject = $1`,
        [login],
      );
      assert.equal(event?.details.reason, code, `${login}'s refusal is audited`);
    }
  });

  test('the start-up check refuses an oidc: section whose client secret is unset or empty', async () => {
    await assert.rejects(checkSignIn(f.app, {}), {
      code: 'oidc_secret_missing',
      message: /\$\{OIDC_CLIENT_SECRET\}, which is not set/,
    });
    await assert.rejects(checkSignIn(f.app, { OIDC_CLIENT_SECRET: '  ' }), {
      code: 'oidc_secret_missing',
      message: /which is empty/,
    });
    await checkSignIn(f.app, { OIDC_CLIENT_SECRET: SECRET });

    // A server that started anyway (the secret removed later) refuses sign-in, naming no variable.
    const errors: unknown[] = [];
    const bare = await buildServer(f.app, {
      schemaVersion: migrationFiles().at(-1)!.version,
      onInternalError: (_id, e) => errors.push(e),
      signIn: { env: {}, cookieSecure: false },
    });
    try {
      const res = await bare.inject({ method: 'GET', url: '/auth/login' });
      assert.equal(res.statusCode, 503);
      assert.equal(res.json().error.code, 'sign_in_unavailable');
      assert.ok(!res.body.includes('OIDC_CLIENT_SECRET'));
      assert.match(String(errors[0]), /OIDC_CLIENT_SECRET/, 'the operator learns which variable');
    } finally {
      await bare.close();
    }
  });
});
