import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gatehouse } from '../app/gatehouse.js';
import { loadConfigDir } from '../config/load.js';
import { loadSnapshot } from '../config/snapshot.js';
import { connectorSource } from '../connectors/registry.js';
import { CatalogCache } from '../core/catalog/catalog.js';
import { fixedClock } from '../core/clock.js';
import { DEMO_CONFIG, DEMO_PEOPLE } from '../demo/seed.js';
import { testStore } from '../store/test-store.js';
import { buildServer } from './server.js';

test('GET /api/grants and /api/requests are paged with limit and cursor; a bad cursor is a 400', async () => {
  const store = await testStore();
  try {
    const app = gatehouse({
      sql: store.sql,
      clock: fixedClock('2026-05-01T09:00:00Z'),
      catalog: new CatalogCache(),
      connectors: connectorSource([], { env: {}, dataDir: '/nonexistent' }),
      workerId: 'server-test',
    });
    const { config } = await loadConfigDir(DEMO_CONFIG);
    await app.apply(config, 'test', false);
    await app.sync(await loadSnapshot(DEMO_PEOPLE), 'test', ['human']);
    const server = buildServer(app, 's3cret');
    const get = (url: string) =>
      server.inject({ method: 'GET', url, headers: { authorization: 'Bearer s3cret' } });
    try {
      for (const list of ['grants', 'requests'] as const) {
        const ids: string[] = [];
        let cursor: string | null = null;
        do {
          const r = await get(`/api/${list}?limit=5${cursor ? `&cursor=${cursor}` : ''}`);
          assert.equal(r.statusCode, 200, r.body);
          const body = r.json() as Record<string, { id: string }[]> & {
            next_cursor: string | null;
          };
          assert.ok(body[list]!.length <= 5);
          ids.push(...body[list]!.map((x) => x.id));
          cursor = body.next_cursor;
        } while (cursor !== null);
        const [all] = await store.sql.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM ${list}`,
        );
        assert.ok(all!.n > 5, `more ${list} than one page`);
        assert.equal(ids.length, all!.n);
        assert.equal(new Set(ids).size, all!.n);
      }
      const bad = await get('/api/grants?cursor=nope!');
      assert.equal(bad.statusCode, 400);
      assert.match(bad.json().error, /^cursor /);
      assert.equal((await get('/api/requests?limit=5000')).statusCode, 400);
    } finally {
      await server.close();
    }
  } finally {
    await store.close();
  }
});
