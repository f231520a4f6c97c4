import assert from 'node:assert/strict';
import { test } from 'node:test';
import { testStore } from '../../store/test-store.js';
import { authenticateToken } from '../tokens/authenticate.js';
import { createToken, revokeToken } from '../tokens/tokens.js';
import { admitCall } from './admit.js';
import { countHits } from './rate-windows.js';

const AT = new Date('2026-03-02T09:00:30.000Z');

test('a call counted and its token read in one statement is judged as authentication alone judges it, and counts as countHits counts', async () => {
  const store = await testStore();
  try {
    const { sql } = store;
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
    const later = new Date(AT.getTime() + 90 * 86400_000 + 1000);
    const cases: [string, string, Date][] = [
      ['valid', good.token, AT],
      ['wrong secret', `${good.token.slice(0, -4)}AAAA`, AT],
      ['malformed', 'not-a-token', AT],
      ['unknown id', good.token.replace(/^gh_[0-9a-f]{4}/, 'gh_ffff'), AT],
      ['revoked', revoked.token, AT],
      ['expired', good.token, later],
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
