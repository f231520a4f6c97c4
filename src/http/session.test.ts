import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { runCli } from '../cli/run.js';
import { loadSnapshot } from '../config/snapshot.js';
import { isDemoStore } from '../core/sessions/sessions.js';
import { DEMO_PEOPLE } from '../demo/seed.js';
import { openStore } from '../store/open.js';
import { apiFixture } from '../testing/api.js';
import { buildServer } from './server.js';
import { migrationFiles } from '../store/migrate.js';

const SESSIONS = `
sessions:
  lifetime: 2h
  scopes:
    audit: [security]
    admin: [governance]
`;

const sessionCookie = (res: LightMyRequestResponse) => {
  const raw = res.headers['set-cookie'];
  const list = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  return list.find((c) => c.startsWith('gatehouse_session='));
};

test('a production store never offers the demo sign-in; a demo store offers it, labelled, as any of its active identities', async () => {
  const f = await apiFixture();
  try {
    const methods = await f.call('GET', '/auth/methods');
    assert.deepEqual(methods.json(), { oidc: false, demo: false });
    const list = await f.call('GET', '/auth/demo');
    assert.equal(list.statusCode, 404);
    const post = await f.call('POST', '/auth/demo', undefined, { identity: 'carol@acme.test' });
    assert.equal(post.statusCode, 404, 'a production store answers as if there were no such route');
    assert.equal(sessionCookie(post), undefined);
    const login = await f.call('GET', '/auth/login');
    assert.equal(login.statusCode, 404, 'no oidc: section, no OpenID sign-in');
    assert.equal(login.json().error.code, 'sign_in_not_configured');

    await f.app.sessions.markDemoStore(); // what `gatehouse demo` does to its store
    assert.deepEqual((await f.call('GET', '/auth/methods')).json(), { oidc: false, demo: true });
    const offered = await f.call('GET', '/auth/demo');
    assert.equal(offered.statusCode, 200);
    assert.match(offered.json().label, /^Demo sign-in/);
    assert.ok(
      offered.json().identities.some((i: { id: string }) => i.id === 'carol@acme.test'),
      offered.body,
    );
    const signedIn = await f.call('POST', '/auth/demo', undefined, {
      identity: 'carol@acme.test',
    });
    assert.equal(signedIn.statusCode, 200, signedIn.body);
    assert.equal(signedIn.json().demo, true);
    const cookie = sessionCookie(signedIn)!;
    assert.match(cookie, /; HttpOnly; SameSite=Lax; Secure$/, 'Secure by default');
    const me = await f.call('GET', '/api/v1/me', undefined, undefined, {
      cookie: cookie.split(';')[0]!,
    });
    assert.equal(me.statusCode, 200, me.body);
    assert.equal(me.json().identity, 'carol@acme.test');
    assert.equal(me.json().csrf_token, signedIn.json().csrf_token);
    const [event] = await f.store.sql.query<{ details: { method: string } }>(
      `SELECT details FROM audit_events WHERE action = 'session.started' AND actor = 'carol@acme.test'`,
    );
    assert.equal(event!.details.method, 'demo');
    const unknown = await f.call('POST', '/auth/demo', undefined, { identity: 'nobody@acme.test' });
    assert.equal(unknown.statusCode, 403);
    assert.equal(unknown.json().error.code, 'unknown_identity');
  } finally {
    await f.close();
  }
});

test('a session expires by the injected clock, and a leaver’s session stops at once', async () => {
  const f = await apiFixture({ settings: SESSIONS });
  try {
    const carol = await f.app.sessions.open({
      claimed: 'carol@acme.test',
      method: 'demo',
      lifetimeSeconds: 2 * 3600,
    });
    const dan = await f.app.sessions.open({
      claimed: 'dan@acme.test',
      method: 'demo',
      lifetimeSeconds: 2 * 3600,
    });
    const me = (cookie: string) =>
      f.call('GET', '/api/v1/me', undefined, undefined, { cookie: `gatehouse_session=${cookie}` });
    assert.equal((await me(carol.cookie)).statusCode, 200);
    assert.equal((await me(dan.cookie)).statusCode, 200);

    const people = await loadSnapshot(DEMO_PEOPLE);
    await f.app.sync(
      people.map((p) => (p.id === 'dan@acme.test' ? { ...p, status: 'terminated' as const } : p)),
      'test',
      ['human'],
    );
    const left = await me(dan.cookie);
    assert.equal(left.statusCode, 401);
    assert.equal(left.json().error.code, 'identity_inactive');

    f.clock.advance(2 * 3600 - 1);
    assert.equal((await me(carol.cookie)).statusCode, 200, 'alive until its last second');
    f.clock.advance(1);
    const expired = await me(carol.cookie);
    assert.equal(expired.statusCode, 401);
    assert.equal(expired.json().error.code, 'session_expired');

    const forged = await me(carol.cookie.slice(0, -1) + (carol.cookie.endsWith('A') ? 'B' : 'A'));
    assert.equal(forged.statusCode, 401);
    assert.equal(forged.json().error.code, 'invalid_session');
    const [row] = await f.store.sql.query<{ id: string; secret_hash: Buffer }>(
      `SELECT id, secret_hash FROM sessions WHERE identity = 'carol@acme.test'`,
    );
    assert.equal(row!.id, carol.id);
    assert.ok(!carol.cookie.includes(Buffer.from(row!.secret_hash).toString('base64url')));
  } finally {
    await f.close();
  }
});

test('a session carries read, request, approve and review; audit and admin only through the groups sessions.scopes names; bearer calls need no CSRF token', async () => {
  const f = await apiFixture({ settings: SESSIONS });
  try {
    const scopesOf = async (identity: string) => {
      const s = await f.app.sessions.open({
        claimed: identity,
        method: 'demo',
        lifetimeSeconds: 3600,
      });
      const me = await f.call('GET', '/api/v1/me', undefined, undefined, {
        cookie: `gatehouse_session=${s.cookie}`,
      });
      return { scopes: me.json().scopes as string[], cookie: s.cookie, csrf: s.csrf_token };
    };
    assert.deepEqual((await scopesOf('alice@acme.test')).scopes, [
      'read',
      'request',
      'approve',
      'review',
    ]);
    assert.deepEqual((await scopesOf('sam@acme.test')).scopes, [
      'read',
      'request',
      'approve',
      'review',
      'audit',
    ]);
    assert.deepEqual((await scopesOf('gina@acme.test')).scopes, [
      'read',
      'request',
      'approve',
      'review',
      'admin',
    ]);
    const sam = await scopesOf('sam@acme.test');
    const verify = await f.call('GET', '/api/v1/audit/verify', undefined, undefined, {
      cookie: `gatehouse_session=${sam.cookie}`,
    });
    assert.equal(verify.statusCode, 200, 'the audit scope opens audit routes');
    const alice = await scopesOf('alice@acme.test');
    const denied = await f.call('GET', '/api/v1/audit/verify', undefined, undefined, {
      cookie: `gatehouse_session=${alice.cookie}`,
    });
    assert.equal(denied.statusCode, 403);
    assert.equal(denied.json().error.code, 'insufficient_scope');

    // A request made with the session cookie and its CSRF token; a token needs neither.
    const body = {
      entitlement: 'analytics:writer',
      beneficiary: 'alice@acme.test',
      reason: 'quarterly close work',
    };
    const made = await f.call('POST', '/api/v1/requests', undefined, body, {
      cookie: `gatehouse_session=${alice.cookie}`,
      'x-csrf-token': alice.csrf,
    });
    assert.equal(made.statusCode, 201, made.body);
    assert.equal(made.json().requester, 'alice@acme.test');
    const token = await f.token('bob@acme.test', 'request');
    const byToken = await f.call('POST', '/api/v1/requests', token, {
      ...body,
      beneficiary: 'bob@acme.test',
    });
    assert.equal(byToken.statusCode, 201, byToken.body);
  } finally {
    await f.close();
  }
});

test('the session cookie is Secure unless the server says it listens on loopback', async () => {
  const f = await apiFixture();
  try {
    await f.app.sessions.markDemoStore();
    for (const cookieSecure of [true, false]) {
      const server = await buildServer(f.app, {
        schemaVersion: migrationFiles().at(-1)!.version,
        signIn: { env: {}, cookieSecure },
      });
      const res = await server.inject({
        method: 'POST',
        url: '/auth/demo',
        payload: { identity: 'alice@acme.test' },
      });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(sessionCookie(res)!.endsWith('; Secure'), cookieSecure);
      await server.close();
    }
  } finally {
    await f.close();
  }
});

test('gatehouse demo marks its store a demo store; init makes a production store', async () => {
  const root = mkdtempSync(join(tmpdir(), 'gatehouse-demo-flag-'));
  // The embedded store, whatever store the suite runs on: demo writes Acme into it.
  const env = { env: { ...process.env, DATABASE_URL: '' }, cwd: root };
  const io = { stdout: () => undefined, stderr: () => undefined };
  try {
    assert.equal(await runCli(['init', '--data', 'prod'], io, env), 0);
    assert.equal(await runCli(['demo', '--no-serve', '--data', 'demo'], io, env), 0);
    for (const [dir, demo] of [
      ['prod', false],
      ['demo', true],
    ] as const) {
      const store = await openStore({ dataDir: join(root, dir), command: 'test' });
      try {
        assert.equal(await isDemoStore(store.sql), demo, dir);
      } finally {
        await store.close();
      }
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('hostile input to the sign-in routes is a 4xx in the error shape, never a 500, and opens no session', async () => {
  const f = await apiFixture();
  try {
    await f.app.sessions.markDemoStore();
    const cases: [string, string, unknown, Record<string, string>][] = [
      ['GET', `/auth/callback?code=${'x'.repeat(9000)}&state=s`, undefined, {}],
      ['GET', '/auth/callback?code=a&code=b', undefined, {}],
      ['GET', '/auth/callback?code=a&state=b', undefined, { cookie: 'gatehouse_sign_in=%00' }],
      ['GET', '/auth/login?return_to=//evil.test&extra=1', undefined, {}],
      ['GET', '/api/v1/me', undefined, { cookie: `gatehouse_session=${'A'.repeat(5000)}` }],
      ['GET', '/api/v1/me', undefined, { cookie: 'gatehouse_session="ses_0_x"; a=b' }],
      ['POST', '/auth/logout', undefined, { cookie: 'gatehouse_session=ses_zz' }],
      ['POST', '/auth/demo', { identity: 'carol@acme.test', admin: true }, {}],
      ['POST', '/auth/demo', { identity: '' }, {}],
      ['POST', '/auth/demo', { identity: 'x'.repeat(300) }, {}],
      ['POST', '/auth/demo', { identity: 'carol@acme.test\u0000' }, {}],
      ['POST', '/auth/demo', { identity: '\ud800' }, {}],
      [
        'POST',
        '/auth/demo',
        'identity=carol@acme.test',
        {
          'content-type': 'application/x-www-form-urlencoded',
        },
      ],
    ];
    for (const [method, url, body, headers] of cases) {
      const res = await f.call(method as 'GET' | 'POST', url, undefined, body, headers);
      const what = `${method} ${url.slice(0, 60)} ${JSON.stringify(body)?.slice(0, 60)}`;
      if (url === '/auth/logout') {
        assert.deepEqual(res.json(), { signed_out: false }, what);
        continue;
      }
      assert.ok(res.statusCode >= 400 && res.statusCode < 500, `${what}: ${res.statusCode}`);
      assert.equal(typeof res.json().error.code, 'string', what);
      assert.ok(res.json().request_id, what);
      const set = res.headers['set-cookie'];
      assert.ok(
        ![set ?? []].flat().some((c) => /^gatehouse_session=ses_/.test(String(c))),
        `${what} opened no session`,
      );
    }
    const [n] = await f.store.sql.query<{ n: number }>('SELECT count(*)::int AS n FROM sessions');
    assert.equal(n!.n, 0);
    assert.deepEqual(f.internalErrors, []);
  } finally {
    await f.close();
  }
});

test('a call made with a browser session is recorded via ui, the same call with a token via api, and a refused session call is audited via ui', async () => {
  const f = await apiFixture({ settings: SESSIONS });
  try {
    const alice = await f.app.sessions.open({
      claimed: 'alice@acme.test',
      method: 'demo',
      lifetimeSeconds: 3600,
    });
    const body = {
      entitlement: 'analytics:writer',
      beneficiary: 'alice@acme.test',
      reason: 'quarterly close work',
    };
    const made = await f.call('POST', '/api/v1/requests', undefined, body, {
      cookie: `gatehouse_session=${alice.cookie}`,
      'x-csrf-token': alice.csrf_token,
    });
    assert.equal(made.statusCode, 201, made.body);
    const byToken = await f.call(
      'POST',
      '/api/v1/requests',
      await f.token('bob@acme.test', 'request'),
      { ...body, beneficiary: 'bob@acme.test' },
    );
    assert.equal(byToken.statusCode, 201, byToken.body);
    const cancelled = await f.call(
      'POST',
      `/api/v1/requests/${made.json().id}/cancel`,
      undefined,
      { comment: 'not needed after all' },
      { cookie: `gatehouse_session=${alice.cookie}`, 'x-csrf-token': alice.csrf_token },
    );
    assert.equal(cancelled.statusCode, 200, cancelled.body);
    const noCsrf = await f.call('POST', '/api/v1/requests', undefined, body, {
      cookie: `gatehouse_session=${alice.cookie}`,
    });
    assert.equal(noCsrf.statusCode, 403);

    const events = await f.store.sql.query<{
      actor: string;
      action: string;
      details: { via: string; code?: string };
    }>(
      `SELECT actor, action, details FROM audit_events
        WHERE action IN ('request.submitted', 'request.cancelled', 'access.refused')
          AND details->>'via' <> 'job' ORDER BY seq`,
    );
    assert.deepEqual(
      events.map((e) => [e.actor, e.action, e.details.via, e.details.code]),
      [
        ['alice@acme.test', 'request.submitted', 'ui', undefined],
        ['bob@acme.test', 'request.submitted', 'api', undefined],
        ['alice@acme.test', 'request.cancelled', 'ui', undefined],
        ['unauthenticated', 'access.refused', 'ui', 'csrf_failed'],
      ],
    );
  } finally {
    await f.close();
  }
});
