import assert from 'node:assert/strict';
import { test } from 'node:test';
import { apiFixture } from '../testing/api.js';
import * as shapes from './shapes.js';

test('GET /api/v1/audit/export streams every event as JSON lines in seq order, since an instant when asked, to the audit scope only', async () => {
  const f = await apiFixture();
  try {
    const auditor = await f.token('rita@acme.test', 'audit');
    const reader = await f.token('rita@acme.test', 'read');
    const res = await f.call('GET', '/api/v1/audit/export', auditor);
    assert.equal(res.statusCode, 200, res.body);
    assert.match(String(res.headers['content-type']), /^application\/x-ndjson/);
    assert.ok(res.body.endsWith('\n'));
    const events = res.body
      .trimEnd()
      .split('\n')
      .map((l) => shapes.auditEvent.parse(JSON.parse(l)));
    const [n] = await f.store.sql.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM audit_events',
    );
    assert.equal(events.length, n!.n);
    assert.deepEqual(
      events.map((e) => e.seq),
      events.map((_, i) => i + 1),
    );

    f.clock.advance(3600);
    const since = f.clock.now().toISOString();
    await f.token('bob@acme.test', 'read');
    const later = await f.call('GET', `/api/v1/audit/export?since=${since}`, auditor);
    assert.equal(later.statusCode, 200);
    const lines = later.body
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { action: string });
    assert.deepEqual(
      lines.map((l) => l.action),
      ['token.created'],
    );

    const bad = await f.call('GET', '/api/v1/audit/export?since=yesterday', auditor);
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().error.field, 'since');
    const refused = await f.call('GET', '/api/v1/audit/export', reader);
    assert.equal(refused.statusCode, 403);
    assert.equal(refused.json().error.code, 'insufficient_scope');
  } finally {
    await f.close();
  }
});
