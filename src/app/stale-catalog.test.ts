import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfigDir } from '../config/load.js';
import { connectorSource } from '../connectors/registry.js';
import { CatalogCache } from '../core/catalog/catalog.js';
import { fixedClock } from '../core/clock.js';
import { DEMO_CONFIG, DEMO_PEOPLE } from '../demo/seed.js';
import { loadSnapshot } from '../config/snapshot.js';
import { testStore } from '../store/test-store.js';
import { gatehouse } from './gatehouse.js';

test('a node whose cached configuration is stale decides on the one another node applied', async () => {
  const store = await testStore();
  try {
    const clock = fixedClock('2026-05-01T09:00:00Z');
    const node = (id: string) =>
      gatehouse({
        sql: store.sql,
        clock,
        catalog: new CatalogCache(),
        connectors: connectorSource([], { env: {}, dataDir: '/nonexistent' }),
        workerId: id,
      });
    const a = node('node-a');
    const b = node('node-b');
    const { config } = await loadConfigDir(DEMO_CONFIG);
    await a.apply(config, 'test', false);
    await a.sync(await loadSnapshot(DEMO_PEOPLE), 'test', ['human']);
    const ask = {
      requester: 'bob@acme.test',
      beneficiary: 'bob@acme.test',
      entitlement: 'analytics:reader',
      justification: 'look at the Q3 numbers',
      duration: 8 * 3600,
      via: 'cli' as const,
    };
    assert.equal(
      (await a.explain(ask)).decision.outcome,
      'auto_approved',
      'node A now caches this configuration',
    );

    // Node B applies a configuration without the short-low-risk auto-approval policy.
    const policies = config.policies.filter((p) => p.id !== 'short-low-risk');
    await b.apply({ ...config, policies }, 'test', false);

    const after = await a.explain(ask);
    assert.equal(
      after.decision.outcome,
      'needs_approval',
      'node A noticed the change in the same query that read its facts',
    );
  } finally {
    await store.close();
  }
});
