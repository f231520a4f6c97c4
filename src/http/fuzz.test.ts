import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SCOPES } from '../core/tokens/scopes.js';
import { apiFixture } from '../testing/api.js';
import { API_ROUTES } from './routes.js';
import * as shapes from './shapes.js';

const HOSTILE_IDS = [
  '..%2F..%2Fetc%2Fpasswd',
  '%27%20OR%201%3D1%20--',
  'req_x%00y',
  'x'.repeat(300),
  '%F0%9F%92%A5',
  '%3Cscript%3Ealert(1)%3C%2Fscript%3E',
];

const HOSTILE_BODIES: (string | Record<string, unknown>)[] = [
  '{',
  '{"a":',
  '[]',
  'null',
  '"text"',
  '42',
  '{"__proto__": {"admin": true}}',
  '{"constructor": {"prototype": {"admin": true}}}',
  { unexpected: 'field' },
  { entitlement: 42, beneficiary: ['a'], reason: { $ne: null } },
  { entitlement: "' OR 1=1 --", beneficiary: 'alice@acme.test', reason: 7 },
  { comment: 'x'.repeat(3000) },
  { reason: '', comment: null },
  { entitlement: 'wiki:edit\u0000', beneficiary: 'alice@acme.test', reason: 'nul \u0000 inside' },
  { comment: 'nul \u0000', reason: 'nul \u0000' },
  { duration: -5, reason: 'x'.repeat(100_000) },
  { identity: 'gina@acme.test', scopes: 'admin' },
  { identity: 'gina@acme.test', scopes: [] },
  { identity: 'gina@acme.test', scopes: ['read', 'root'] },
  { identity: 'gina@acme.test', scopes: ['read'], expires: '-5d' },
  { identity: '../../etc/passwd\u0000', scopes: ['read'] },
  { identity: 'gina@acme.test', scopes: ['read'], expires: '9999999999999d' },
];

const HOSTILE_QUERIES = [
  'cursor=nope!',
  'cursor=' + Buffer.from('["requests","x","y"]').toString('base64url'),
  'limit=-1',
  'limit=abc',
  'limit=99999999999999999999',
  'status=a&status=b',
  'unknown=1',
  'expiring_within=forever',
  'since=yesterday',
  'since=' + 'x'.repeat(500),
  'since=2026-01-01T00:00:00Z&since=2026-02-01T00:00:00Z',
  'kind=%27%20OR%201%3D1%20--',
  'status=%00',
];

async function snapshot(f: Awaited<ReturnType<typeof apiFixture>>) {
  const counts: Record<string, number> = {};
  for (const t of ['requests', 'grants', 'approvals', 'audit_events', 'jobs', 'api_tokens']) {
    const [r] = await f.store.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${t}`);
    counts[t] = r!.n;
  }
  return counts;
}

test('malformed input at every route is a 4xx in the API.md error shape, never a 500, and changes nothing in the store', async () => {
  const f = await apiFixture();
  try {
    const all = await f.token('gina@acme.test', SCOPES.join(','));
    const before = await snapshot(f);
    const id = HOSTILE_IDS[0]!;
    let calls = 0;
    for (const r of API_ROUTES) {
      const urls = r.url.includes(':id')
        ? HOSTILE_IDS.map((h) => r.url.replace(':id', h))
        : [r.url];
      const withQueries = urls.flatMap((u) => [u, ...HOSTILE_QUERIES.map((q) => `${u}?${q}`)]);
      const attempts: [string, unknown][] =
        r.method === 'GET'
          ? withQueries
              .filter((u) => u.includes('?') || r.url.includes(':id'))
              .map((u) => [u, undefined])
          : [
              ...HOSTILE_BODIES.map((b): [string, unknown] => [r.url.replace(':id', id), b]),
              ...urls.map((u): [string, unknown] => [u, { unexpected: true }]),
            ];
      for (const [url, body] of attempts) {
        const res = await f.call(
          r.method,
          url,
          all,
          body,
          typeof body === 'string' ? { 'content-type': 'application/json' } : {},
        );
        calls++;
        const what = `${r.method} ${url.slice(0, 80)} ${JSON.stringify(body)?.slice(0, 80)}`;
        assert.ok(res.statusCode >= 400 && res.statusCode < 500, `${what}: ${res.statusCode}`);
        const err = shapes.errorObject.safeParse(res.json());
        assert.ok(err.success, `${what}: ${res.body.slice(0, 200)}`);
        assert.ok(!/\n\s+at /.test(res.body), `${what}: no stack`);
      }
    }
    assert.ok(calls > 200, `${calls} calls`);
    assert.deepEqual(f.internalErrors, []);
    assert.deepEqual(await snapshot(f), before, 'nothing was written');
  } finally {
    await f.close();
  }
});
