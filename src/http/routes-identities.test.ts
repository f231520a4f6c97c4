import assert from 'node:assert/strict';
import { test } from 'node:test';
import { apiFixture } from '../testing/api.js';
import * as shapes from './shapes.js';

const ids = (body: unknown) => shapes.identityPage.parse(body).identities.map((i) => i.id);

test('GET /api/v1/identities shows each reader itself, its reports and what it owns; the governance group and an auditor see everyone, filtered by kind and status and paged', async () => {
  const f = await apiFixture();
  try {
    const bob = await f.token('bob@acme.test', 'read');
    const alice = await f.token('alice@acme.test', 'read');
    const fiona = await f.token('fiona@acme.test', 'read');
    const gina = await f.token('gina@acme.test', 'read');
    const auditor = await f.token('rita@acme.test', 'audit');

    assert.deepEqual(ids((await f.call('GET', '/api/v1/identities', bob)).json()), [
      'bob@acme.test',
    ]);
    assert.deepEqual(
      ids((await f.call('GET', '/api/v1/identities', alice)).json()),
      ['alice@acme.test', 'svc:ci-deployer'],
      'alice owns the CI deployer',
    );
    assert.deepEqual(
      ids((await f.call('GET', '/api/v1/identities', fiona)).json()),
      [
        'dave@acme.test',
        'fiona@acme.test',
        'frank@acme.test',
        'gina@acme.test',
        'grace@acme.test',
        'rita@acme.test',
      ],
      'a manager sees her reports',
    );
    const [all] = await f.store.sql.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM identities',
    );
    for (const who of [gina, auditor]) {
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const r = await f.call(
          'GET',
          `/api/v1/identities?limit=5${cursor ? `&cursor=${cursor}` : ''}`,
          who,
        );
        assert.equal(r.statusCode, 200, r.body);
        seen.push(...ids(r.json()));
        cursor = r.json().next_cursor as string | null;
      } while (cursor);
      assert.equal(seen.length, all!.n);
    }
    const bots = await f.call('GET', '/api/v1/identities?kind=ai_agent&status=active', auditor);
    assert.deepEqual(ids(bots.json()), ['agent:triage-bot']);
    const bad = await f.call('GET', '/api/v1/identities?kind=robot', auditor);
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().error.field, 'kind');
  } finally {
    await f.close();
  }
});

test('GET /api/v1/identities/{id} refuses another person’s record, shows a report to the manager with only the grants she may see, and refuses a token without read', async () => {
  const f = await apiFixture();
  try {
    const bob = await f.token('bob@acme.test', 'read,request');
    const carol = await f.token('carol@acme.test', 'read,approve');
    const alice = await f.token('alice@acme.test', 'read');
    const approver = await f.token('carol@acme.test', 'approve');

    const own = await f.call('GET', '/api/v1/identities/bob@acme.test', bob);
    assert.equal(own.statusCode, 200, own.body);
    const me = shapes.identityObject.parse(own.json());
    assert.equal(me.id, 'bob@acme.test');
    assert.ok(me.grants.length > 0, 'bob’s birthright grants');

    const other = await f.call('GET', '/api/v1/identities/alice@acme.test', bob);
    assert.equal(other.statusCode, 403);
    assert.equal(other.json().error.code, 'identity_not_visible');
    const owned = await f.call('GET', '/api/v1/identities/svc:ci-deployer', alice);
    assert.equal(owned.statusCode, 200, 'the owner of a service account sees it');

    const report = await f.call('GET', '/api/v1/identities/bob@acme.test', carol);
    assert.equal(report.statusCode, 200);
    const seen = shapes.identityObject.parse(report.json());
    const [visible] = await f.store.sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM grants g
        WHERE g.identity = 'bob@acme.test'
          AND (g.owner = 'carol@acme.test' OR g.app IN (SELECT id FROM apps WHERE owner = 'carol@acme.test'))`,
    );
    assert.equal(seen.grants.length, visible!.n, 'the manager sees only grants she may see');

    const unknown = await f.call('GET', '/api/v1/identities/nobody@acme.test', carol);
    assert.equal(unknown.statusCode, 404);
    const scope = await f.call('GET', '/api/v1/identities/carol@acme.test', approver);
    assert.equal(scope.statusCode, 403);
    assert.equal(scope.json().error.code, 'insufficient_scope');
  } finally {
    await f.close();
  }
});
