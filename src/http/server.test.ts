import assert from 'node:assert/strict';
import { test } from 'node:test';
import { apiFixture } from '../testing/api.js';

test('GET /api/v1/grants and /api/v1/requests are paged with limit and cursor; a bad cursor is a 400 naming it', async () => {
  const f = await apiFixture();
  try {
    const auditor = await f.token('gina@acme.test', 'audit');
    // Some requests to page through, made as their requesters.
    const alice = await f.token('alice@acme.test', 'request');
    for (const ent of ['wiki:edit', 'analytics:writer', 'erp:vendor-create', 'github:write']) {
      const r = await f.call('POST', '/api/v1/requests', alice, {
        entitlement: ent,
        beneficiary: 'alice@acme.test',
        reason: 'paging test',
      });
      assert.equal(r.statusCode, 201, r.body);
    }
    for (const list of ['grants', 'requests'] as const) {
      const ids: string[] = [];
      let cursor: string | null = null;
      do {
        const r = await f.call(
          'GET',
          `/api/v1/${list}?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
          auditor,
        );
        assert.equal(r.statusCode, 200, r.body);
        const body = r.json() as Record<string, { id: string }[]> & {
          next_cursor: string | null;
        };
        assert.ok(body[list]!.length <= 2);
        ids.push(...body[list]!.map((x) => x.id));
        cursor = body.next_cursor;
      } while (cursor !== null);
      const [all] = await f.store.sql.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM ${list}`,
      );
      assert.ok(all!.n > 2, `more ${list} than one page`);
      assert.equal(ids.length, all!.n);
      assert.equal(new Set(ids).size, all!.n);
    }
    const bad = await f.call('GET', '/api/v1/grants?cursor=nope!', auditor);
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().error.code, 'invalid_cursor');
    assert.equal(bad.json().error.field, 'cursor');
    const big = await f.call('GET', '/api/v1/requests?limit=5000', auditor);
    assert.equal(big.statusCode, 400);
    assert.equal(big.json().error.field, 'limit');
  } finally {
    await f.close();
  }
});
