import assert from 'node:assert/strict';
import { test } from 'node:test';
import { apiFixture } from '../testing/api.js';

test('POST /api/v1/reconcile answers as reconcile --json for an admin token, records the run as the token’s identity, and is refused without the admin scope', async () => {
  const f = await apiFixture();
  try {
    const admin = await f.token('erin@acme.test', 'admin');
    const reader = await f.token('erin@acme.test', 'read,audit');

    const dry = await f.call('POST', '/api/v1/reconcile', admin, { dry_run: true });
    assert.equal(dry.statusCode, 200, dry.body);
    const d = dry.json();
    assert.equal(d.run.id, null);
    assert.equal(d.run.dry_run, true);
    assert.deepEqual(d.findings, []);
    // This fixture has no connector built: the target failed, so the run is partial, never clean.
    assert.equal(d.run.status, 'partial');
    assert.deepEqual(
      d.run.connectors.map((c: { connector: string; status: string }) => [c.connector, c.status]),
      [['acme-db', 'failed']],
    );
    assert.equal(
      Number(
        (await f.store.sql.query<{ n: number }>('SELECT count(*) AS n FROM reconcile_runs'))[0]!.n,
      ),
      0,
      'a dry run writes nothing',
    );

    const run = await f.call('POST', '/api/v1/reconcile', admin, { connector: 'acme-db' });
    assert.equal(run.statusCode, 200, run.body);
    const [row] = await f.store.sql.query<{ actor: string; status: string }>(
      'SELECT actor, status FROM reconcile_runs WHERE id = $1',
      [run.json().run.id],
    );
    assert.deepEqual(row, { actor: 'erin@acme.test', status: 'partial' });

    const refused = await f.call('POST', '/api/v1/reconcile', reader, {});
    assert.equal(refused.statusCode, 403);
    assert.equal(refused.json().error.code, 'insufficient_scope');

    const unknown = await f.call('POST', '/api/v1/reconcile', admin, { connector: 'nope' });
    assert.equal(unknown.statusCode, 404);
    assert.equal(unknown.json().error.field, 'connector');

    const extra = await f.call('POST', '/api/v1/reconcile', admin, { dryRun: true });
    assert.equal(extra.statusCode, 400);
    assert.deepEqual(f.internalErrors, []);
  } finally {
    await f.close();
  }
});
