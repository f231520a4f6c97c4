import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { pgSql } from '../../store/pg-sql.js';
import { testStore } from '../../store/test-store.js';
import type { Sql } from '../sql.js';
import { authenticateToken } from '../tokens/authenticate.js';
import { createToken, revokeToken } from '../tokens/tokens.js';
import { admitCall } from './admit.js';
import { countHits } from './rate-windows.js';

const AT = new Date('2026-03-02T09:00:30.000Z');

/** Ann, with a valid token and a revoked one. */
async function annWithTokens(sql: Sql) {
  await sql.query(
    `INSERT INTO identities (id, kind, status, created_at, updated_at)
     VALUES ('ann@acme.test', 'human', 'active', $1, $1)`,
    [AT],
  );
  const make = () =>
    createToken(sql, AT, {
      identity: 'ann@acme.test',
      scopes: ['read'],
      actor: 'admin',
      via: 'cli',
    });
  const good = await make();
  const revoked = await make();
  await revokeToken(sql, AT, { id: revoked.id, actor: 'admin', via: 'cli' });
  return { good: good.token, revoked: revoked.token };
}

test('a call counted and its token read in one statement is judged as authentication alone judges it, and counts as countHits counts', async () => {
  const store = await testStore();
  try {
    const { sql } = store;
    const { good, revoked } = await annWithTokens(sql);
    const later = new Date(AT.getTime() + 90 * 86400_000 + 1000);
    const cases: [string, string, Date][] = [
      ['valid', good, AT],
      ['wrong secret', `${good.slice(0, -4)}AAAA`, AT],
      ['malformed', 'not-a-token', AT],
      ['unknown id', good.replace(/^gh_[0-9a-f]{4}/, 'gh_ffff'), AT],
      ['revoked', revoked, AT],
      ['expired', good, later],
    ];
    let n = 0;
    for (const [what, token, now] of cases) {
      n++;
      const admitted = await admitCall(sql, ['api-address:1', 'api-token:x'], 60_000, now, token);
      assert.deepEqual(
        await admitted.authenticate(),
        await authenticateToken(sql, now, token),
        what,
      );
      const hits = admitted.counts.map((c) => [c.key, c.hits]).sort();
      const alone = (await countHits(sql, ['api-address:1'], 60_000, now))[0]!;
      // The same window (n calls so far at AT, one at `later`) and what countHits says next.
      assert.equal(hits.length, 2, what);
      assert.equal(alone.hits, Number(hits[0]![1]) + 1, what);
      if (now === AT) assert.equal(hits[0]![1], 2 * n - 1, what);
    }
  } finally {
    await store.close();
  }
});

/** `sql` counting the statements that add to rate_windows, and those that record a token's use. */
function counting(sql: Sql): { sql: Sql; counts: () => number; uses: () => number } {
  let n = 0;
  let uses = 0;
  return {
    sql: {
      query: (text, params) => {
        if (text.includes('rate_windows')) n++;
        if (text.startsWith('UPDATE api_tokens SET last_used_at')) uses++;
        return sql.query(text, params);
      },
      transaction: (fn, after) => sql.transaction(fn, after),
    },
    counts: () => n,
    uses: () => uses,
  };
}

test('calls that arrive together are counted by one statement, each told its own place in the shared count and judged by its own token', async () => {
  const store = await testStore();
  try {
    const { good, revoked } = await annWithTokens(store.sql);
    const { sql, counts, uses } = counting(store.sql);
    const before = counts();
    const tokens = Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? good : revoked));
    const admitted = await Promise.all(
      tokens.map((t, i) => admitCall(sql, ['api-address:1', `api-token:${i % 2}`], 60_000, AT, t)),
    );
    // The first goes at once; the eleven that arrived while it ran go together.
    assert.equal(counts() - before, 2);
    const hits = (key: string) =>
      admitted.map((a) => a.counts.find((c) => c.key === key)?.hits ?? null);
    assert.deepEqual(
      hits('api-address:1'),
      Array.from({ length: 12 }, (_, i) => i + 1),
    );
    assert.deepEqual(hits('api-token:0'), [1, null, 2, null, 3, null, 4, null, 5, null, 6, null]);
    assert.deepEqual(hits('api-token:1'), [null, 1, null, 2, null, 3, null, 4, null, 5, null, 6]);
    const judged = await Promise.all(admitted.map((a) => a.authenticate()));
    assert.deepEqual(
      judged.map((j) => (j.ok ? 'ok' : j.code)),
      tokens.map((t) => (t === good ? 'ok' : 'token_revoked')),
    );
    // Each statement read the good token's row once, unused; one call of each records the use.
    assert.equal(uses(), 2);
    const next = await countHits(store.sql, ['api-address:1'], 60_000, AT);
    assert.equal(next[0]!.hits, 13, 'the store holds every call counted');
  } finally {
    await store.close();
  }
});

test('calls racing on two nodes add to one count: every place in it is given once', async (t) => {
  const store = await testStore();
  if (store.kind !== 'server') {
    await store.close();
    return t.skip('two nodes need the server');
  }
  const pools = [0, 1].map(() => new pg.Pool({ connectionString: store.location, max: 4 }));
  try {
    const { good } = await annWithTokens(store.sql);
    const nodes = pools.map((p) => pgSql(p));
    const rounds = await Promise.all(
      nodes.flatMap((sql) =>
        Array.from({ length: 20 }, () => admitCall(sql, ['api-token:shared'], 60_000, AT, good)),
      ),
    );
    const places = rounds.map((a) => a.counts[0]!.hits).sort((a, b) => a - b);
    assert.deepEqual(
      places,
      Array.from({ length: 40 }, (_, i) => i + 1),
    );
  } finally {
    await Promise.all(pools.map((p) => p.end()));
    await store.close();
  }
});
