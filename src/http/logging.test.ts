import assert from 'node:assert/strict';
import { test } from 'node:test';
import Fastify from 'fastify';
import { apiFixture } from '../testing/api.js';
import { REDACTED, loggableUrl, loggerOptions, redactSecrets } from './logging.js';

test('the request log is JSON lines carrying each request’s id, and no credential sent or answered appears in it', async () => {
  const lines: string[] = [];
  const f = await apiFixture({
    log: { stream: { write: (l) => void lines.push(l) }, level: 'trace' },
  });
  try {
    const admin = await f.token('gina@acme.test', 'admin,read');
    const secrets = [admin, admin.split('_').slice(2).join('_')];
    const hub = 'sha256=' + 'ab'.repeat(32);
    const cookie = 'gh_session=s3cr3t-session-value';
    const made = await f.call('POST', '/api/v1/tokens', admin, {
      identity: 'bob@acme.test',
      scopes: ['read'],
    });
    assert.equal(made.statusCode, 201);
    const created = made.json().token as string;
    secrets.push(created, created.split('_').slice(2).join('_'), 's3cr3t-session-value', hub);
    const me = await f.call('GET', '/api/v1/me', admin, undefined, {
      cookie,
      'x-hub-signature': hub,
    });
    const refused = await f.call('GET', '/api/v1/me', `${admin.slice(0, -1)}Z`);
    assert.equal(refused.statusCode, 401);
    secrets.push(`${admin.slice(0, -1)}Z`);
    await f.call('GET', '/auth/callback?code=one-time-code-123&state=st4te-value&next=/ok');
    secrets.push('one-time-code-123', 'st4te-value');
    await f.call(
      'POST',
      '/hooks/jira',
      undefined,
      { password: 'hunter2-in-body' },
      {
        'x-hub-signature': hub,
      },
    );
    secrets.push('hunter2-in-body');

    const log = lines.join('');
    const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.ok(records.length >= 10, `${records.length} log lines`);
    for (const s of secrets) assert.ok(!log.includes(s), `the log holds ${s.slice(0, 12)}…`);
    assert.equal(me.statusCode, 200);
    const completed = records.filter((r) => r.msg === 'request completed');
    assert.ok(completed.every((r) => typeof r.request_id === 'string'));
    const meLines = records.filter((r) => r.request_id === refused.json().request_id);
    assert.ok(meLines.length >= 2, 'the refused request’s lines carry the id its answer quotes');
    assert.ok(log.includes('/auth/callback?code=[redacted]&state=[redacted]&next=/ok'));
  } finally {
    await f.close();
  }
});

test('a logged URL keeps its path and harmless parameters and loses secret values', () => {
  assert.equal(loggableUrl('/api/v1/grants?limit=5'), '/api/v1/grants?limit=5');
  assert.equal(
    loggableUrl('/x?access_token=abc&client_secret=def&api_key=ghi&page=2'),
    '/x?access_token=[redacted]&client_secret=[redacted]&api_key=[redacted]&page=2',
  );
  assert.equal(loggableUrl('/x?%63ode=abc'), '/x?%63ode=[redacted]');
  assert.equal(loggableUrl('/x?flag'), '/x?flag');
});

test('whatever a log call is given, secret-named fields two levels down and credential headers are redacted, and the caller’s object is left as it was', async () => {
  const lines: string[] = [];
  const app = Fastify({ logger: loggerOptions({ stream: { write: (l) => void lines.push(l) } }) });
  const given = {
    token: 't0p',
    github_token: 'gh-s3cret',
    token_url: 'https://idp.test/token',
    headers: { Authorization: 'Bearer abc', 'content-type': 'application/json' },
    upstream: {
      headers: { cookie: 'gh_session=x', 'x-request-id': 'r1' },
      client_secret: 'cs',
      auth: { password: 'hunter2', user: 'gina' },
    },
    list: [{ secret: 's1' }, { name: 'plain' }],
  };
  const before = JSON.stringify(given);
  app.log.info(given, 'calling upstream');
  app.log.error({ err: Object.assign(new Error('refused'), { access_token: 'at-s3cret' }) });
  await app.close();
  assert.ok(!lines[1]!.includes('at-s3cret'), 'an error’s own fields are redacted');
  assert.ok(lines[1]!.includes('refused'));
  assert.equal(JSON.stringify(given), before, 'the object logged is not changed');
  const line = JSON.parse(lines[0]!) as typeof given;
  for (const s of ['t0p', 'gh-s3cret', 'Bearer abc', 'gh_session', 'cs', 'hunter2', 's1'])
    assert.ok(!lines[0]!.includes(s), `the line holds ${s}`);
  assert.equal(line.token, REDACTED);
  assert.equal(line.github_token, REDACTED);
  assert.equal(
    line.token_url,
    'https://idp.test/token',
    'a name that only mentions a secret stays',
  );
  assert.equal(line.headers['content-type'], 'application/json');
  assert.equal(line.upstream.headers['x-request-id'], 'r1');
  assert.equal(line.upstream.auth.user, 'gina');
  assert.equal(line.list[1]!.name, 'plain');
});

test('redaction stops three levels down, leaves instances to their serializers and copies an error that holds a secret', () => {
  const deep = { a: { b: { c: { password: 'p' } } } };
  assert.equal(redactSecrets(deep), deep, 'nothing to redact within reach: the same object');
  const req = new (class Request {
    token = 'read by no serializer field';
  })();
  assert.equal(redactSecrets({ req }).req, req);
  const err = Object.assign(new Error('boom'), { token: 'tok', status: 502 });
  const out = redactSecrets({ err, token: 'x' }) as { err: Error & typeof err; token: string };
  assert.equal(out.token, REDACTED);
  assert.ok(out.err instanceof Error);
  assert.equal(out.err.token, REDACTED);
  assert.equal(out.err.status, 502);
  assert.equal(out.err.message, 'boom');
  assert.equal(err.token, 'tok', 'the error thrown is not changed');
});
