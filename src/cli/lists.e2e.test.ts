import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Harness, harness } from '../testing/harness.js';

type Grant = { id: string; identity: string; entitlement: string; state: string };

/**
 * Grants written straight into the store, as many as a large organisation holds: a tenth of them
 * share one creation instant and the rest differ by microseconds, so paging must order by the
 * whole key, exactly as the store keeps it, to neither skip nor repeat one.
 */
async function bulkGrants(h: Harness, n: number, prefix: string): Promise<void> {
  await h.store.sql.query(
    `INSERT INTO grants (id, identity, entitlement, app, owner, trigger, state, created_at)
     SELECT $2 || lpad(i::text, 6, '0'), $2 || i || '@bulk.test', 'github:read', 'github',
            $2 || i || '@bulk.test', 'request', 'active',
            timestamptz '2026-03-01T00:00:00Z' + (CASE WHEN i % 10 = 0 THEN 0 ELSE i END) * interval '1 microsecond'
       FROM generate_series(1, $1::int) AS i`,
    [n, prefix],
  );
}

/** Issue 6, "reads that do not scan": one record is read by its id; every list is paged. */
describe('lists and single-record answers', () => {
  let h: Harness;

  before(async () => {
    h = await harness();
  });
  after(() => h.close());

  test('revoke on a store with more than 10,000 grants returns the revoked grant with exit 0', async () => {
    const held = (await h.cli(['grants', '--identity', 'dan@acme.test', '--state', 'active'])).json
      .grants as Grant[];
    assert.ok(held.length > 0, 'dan holds a birthright grant');
    await bulkGrants(h, 10_500, 'grt_big');

    const r = await h.cli([
      'revoke',
      held[0]!.id,
      '--reason',
      'left the project',
      '--as',
      'dan@acme.test',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json.id, held[0]!.id);
    assert.equal(r.json.identity, 'dan@acme.test');
    assert.equal(r.json.state, 'revoking');
    assert.equal(r.json.revoke_trigger, 'manual');
  });

  test('paging through 2,500 grants with --limit 1000 returns every grant exactly once with a next_cursor chain ending in null', async () => {
    await bulkGrants(h, 2_500, 'grt_pg');
    const want = (
      await h.store.sql.query<{ id: string }>(`SELECT id FROM grants WHERE app = 'github'`)
    ).map((g) => g.id);
    assert.ok(want.length > 2_500);

    const seen: string[] = [];
    const cursors: (string | null)[] = [];
    let cursor: string | null = null;
    do {
      const r = await h.cli([
        'grants',
        '--app',
        'github',
        '--limit',
        '1000',
        ...(cursor ? ['--cursor', cursor] : []),
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(r.json.grants.length <= 1000);
      seen.push(...r.json.grants.map((g: Grant) => g.id));
      cursor = r.json.next_cursor;
      cursors.push(cursor);
    } while (cursor !== null);

    assert.equal(seen.length, new Set(seen).size, 'no grant twice');
    assert.deepEqual([...seen].sort(), [...want].sort(), 'every grant once');
    assert.equal(cursors.length, Math.ceil(want.length / 1000));
    assert.equal(cursors.at(-1), null);
    assert.ok(cursors.slice(0, -1).every((c) => typeof c === 'string'));
  });

  test('without --limit a list gives one page of 100 and says where the next starts', async () => {
    const r = await h.cli(['grants']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json.grants.length, 100);
    assert.equal(typeof r.json.next_cursor, 'string');
  });

  test('the text output says how to get the next page, and nothing on the last', async () => {
    const first = await h.cli(['grants', '--app', 'github', '--limit', '2'], false);
    assert.equal(first.code, 0, first.stderr);
    const more = /^\(2 shown; more follow: run again with --cursor ([A-Za-z0-9_-]+)\)$/m.exec(
      first.stdout,
    );
    assert.ok(more, first.stdout);
    const next = await h.cli(['grants', '--app', 'github', '--limit', '2', '--cursor', more[1]!]);
    assert.equal(next.code, 0, next.stderr);
    assert.ok(!first.stdout.includes(next.json.grants[0].id), 'the cursor starts the next page');

    const last = await h.cli(['identities', 'list', '--limit', '1000'], false);
    assert.equal(last.code, 0, last.stderr);
    assert.doesNotMatch(last.stdout, /more follow/);
  });

  test('grants expiring within a window come soonest first, paged on that order', async () => {
    await h.store.sql.query(
      `UPDATE grants SET expires_at = timestamptz '2026-03-03T00:00:00Z' + (right(id, 2)::int % 3) * interval '1 hour'
        WHERE id LIKE 'grt_pg%' AND right(id, 3)::int < 250`,
    );
    const seen: { id: string; expires_at: string }[] = [];
    let cursor: string | null = null;
    do {
      const r = await h.cli([
        'grants',
        '--expiring-within',
        '7d',
        '--limit',
        '40',
        ...(cursor ? ['--cursor', cursor] : []),
      ]);
      assert.equal(r.code, 0, r.stderr);
      seen.push(...r.json.grants);
      cursor = r.json.next_cursor;
    } while (cursor !== null);
    const ids = seen.filter((g) => g.id.startsWith('grt_pg')).map((g) => g.id);
    assert.equal(ids.length, 3 * 249 + 2, 'every grant of the window once');
    assert.equal(new Set(seen.map((g) => g.id)).size, seen.length);
    const times = seen.map((g) => g.expires_at);
    assert.deepEqual(times, [...times].sort(), 'soonest first');
  });

  test('identities and requests are paged the same way', async () => {
    const ids: string[] = [];
    let cursor: string | null = null;
    do {
      const r = await h.cli([
        'identities',
        'list',
        '--limit',
        '4',
        ...(cursor ? ['--cursor', cursor] : []),
      ]);
      assert.equal(r.code, 0, r.stderr);
      ids.push(...r.json.identities.map((i: { id: string }) => i.id));
      cursor = r.json.next_cursor;
    } while (cursor !== null);
    const all = await h.store.sql.query<{ id: string }>('SELECT id FROM identities ORDER BY id');
    assert.deepEqual(
      ids,
      all.map((i) => i.id),
    );

    const reqs: string[] = [];
    do {
      const r = await h.cli(['requests', '--limit', '3', ...(cursor ? ['--cursor', cursor] : [])]);
      assert.equal(r.code, 0, r.stderr);
      reqs.push(...r.json.requests.map((x: { id: string }) => x.id));
      cursor = r.json.next_cursor;
    } while (cursor !== null);
    const [count] = await h.store.sql.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM requests',
    );
    assert.equal(reqs.length, count!.n);
    assert.equal(new Set(reqs).size, count!.n);
  });

  test('identities show gives the first 1000 grants and the cursor of the rest', async () => {
    await h.store.sql.query(
      `INSERT INTO grants (id, identity, entitlement, app, owner, trigger, state, created_at)
       SELECT 'grt_sam' || lpad(i::text, 6, '0'), 'sam@acme.test', 'wiki:read', 'wiki',
              'sam@acme.test', 'request', 'revoked', timestamptz '2026-03-01T00:00:00Z'
         FROM generate_series(1, 1001) AS i`,
    );
    const [held] = await h.store.sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM grants WHERE identity = 'sam@acme.test'`,
    );
    const shown = await h.cli(['identities', 'show', 'sam@acme.test']);
    assert.equal(shown.code, 0, shown.stderr);
    assert.equal(shown.json.grants.length, 1000);
    assert.equal(typeof shown.json.grants_next_cursor, 'string');
    const rest = await h.cli([
      'grants',
      '--identity',
      'sam@acme.test',
      '--cursor',
      shown.json.grants_next_cursor,
    ]);
    assert.equal(rest.code, 0, rest.stderr);
    assert.equal(rest.json.next_cursor, null);
    const all = [...shown.json.grants, ...rest.json.grants].map((g: Grant) => g.id);
    assert.equal(new Set(all).size, held!.n);
    const text = await h.cli(['identities', 'show', 'sam@acme.test'], false);
    assert.match(text.stdout, /1000 grants shown; more follow: .* --cursor /);
  });

  test('a malformed cursor is exit 1 naming the cursor', async () => {
    for (const bad of [
      'not a cursor',
      'eyJub3QiOiJqc29uIn0',
      Buffer.from('["grants","x","y"]').toString('base64url'),
    ]) {
      const r = await h.cli(['grants', '--cursor', bad]);
      assert.equal(r.code, 1, `${bad}: ${r.stderr}`);
      assert.match(r.stderr, /^error: cursor /);
      assert.equal(r.json.error.code, 'invalid_cursor');
      assert.equal(r.json.error.field, 'cursor');
    }
    const identities = (await h.cli(['identities', 'list', '--limit', '1'])).json.next_cursor;
    const r = await h.cli(['grants', '--cursor', identities]);
    assert.equal(r.code, 1, 'a cursor of another list is refused, not misread');
    assert.match(r.stderr, /cursor is not valid for this list: it was given by a different list/);
  });

  test('a page size out of range is exit 1 naming the limit', async () => {
    for (const bad of ['0', '1001', 'ten', '1.5']) {
      const r = await h.cli(['requests', '--limit', bad]);
      assert.equal(r.code, 1, `${bad}: ${r.stderr}`);
      assert.equal(r.json.error.code, 'invalid_limit');
      assert.equal(r.json.error.field, 'limit');
    }
  });
});
