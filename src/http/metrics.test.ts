import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gatehouse, type Gatehouse } from '../app/gatehouse.js';
import { loadConfigDir } from '../config/load.js';
import { loadSnapshot } from '../config/snapshot.js';
import { connectorSource } from '../connectors/registry.js';
import { CatalogCache } from '../core/catalog/catalog.js';
import { fixedClock } from '../core/clock.js';
import { DEMO_CONFIG, DEMO_PEOPLE } from '../demo/seed.js';
import { testStore } from '../store/test-store.js';
import { buildServer } from './server.js';

test('GET /metrics serves the governance gauges in the Prometheus format to a token with the metrics scope', async () => {
  const store = await testStore();
  try {
    const app = gatehouse({
      sql: store.sql,
      clock: fixedClock('2026-05-01T09:00:00Z'),
      catalog: new CatalogCache(),
      connectors: connectorSource([], { env: {}, dataDir: '/nonexistent' }),
      workerId: 'metrics-test',
    });
    const { config } = await loadConfigDir(DEMO_CONFIG);
    await app.apply(config, 'test', false);
    await app.sync(await loadSnapshot(DEMO_PEOPLE), 'test', ['human']);
    const provisioning = (await app.grants({ state: 'provisioning' })).grants.length;
    assert.ok(provisioning > 0, 'the sync made birthright grants, not provisioned yet');

    let reports = 0;
    const counted: Gatehouse = {
      ...app,
      report: async () => {
        reports++;
        return app.report();
      },
    };
    const server = await buildServer(counted, { schemaVersion: 0 });
    const scraper = (
      await app.createToken({
        identity: 'gina@acme.test',
        scopes: 'metrics',
        actor: 'test',
        via: 'cli',
      })
    ).token;
    const reader = (
      await app.createToken({
        identity: 'gina@acme.test',
        scopes: 'read',
        actor: 'test',
        via: 'cli',
      })
    ).token;
    try {
      const anonymous = await server.inject({ method: 'GET', url: '/metrics' });
      assert.equal(anonymous.statusCode, 401);
      const wrong = await server.inject({
        method: 'GET',
        url: '/metrics',
        headers: { authorization: 'Bearer nope' },
      });
      assert.equal(wrong.statusCode, 401);
      const unscoped = await server.inject({
        method: 'GET',
        url: '/metrics',
        headers: { authorization: `Bearer ${reader}` },
      });
      assert.equal(unscoped.statusCode, 403);
      assert.equal(unscoped.json().error.code, 'insufficient_scope');
      assert.equal(reports, 0, 'no report is computed for a refused scrape');

      const res = await server.inject({
        method: 'GET',
        url: '/metrics',
        headers: { authorization: `Bearer ${scraper}` },
      });
      assert.equal(res.statusCode, 200);
      assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
      assert.equal(reports, 1, 'one report query per scrape');
      const body = res.body;
      assert.ok(body.includes(`gatehouse_grants{state="provisioning"} ${provisioning}\n`), body);
      assert.ok(body.includes('gatehouse_grants{state="failed"} 0\n'), 'absent states are 0');
      assert.ok(body.includes('gatehouse_grants{state="revoke_failed"} 0\n'), body);
      // The queue: one apply job per grant being provisioned, due since the sync.
      assert.ok(body.includes(`gatehouse_jobs_queued{kind="grant.apply"} ${provisioning}\n`), body);
      assert.ok(body.includes('gatehouse_jobs_queued{kind="grant.revoke"} 0\n'), body);
      assert.match(body, /\ngatehouse_jobs_oldest_due_age_seconds \d/);
      assert.ok(body.includes('gatehouse_grants_retrying 0\n'), body);
      assert.ok(body.includes('# HELP gatehouse_revocation_sla_breaches '));
      assert.ok(body.includes('# TYPE gatehouse_revocation_sla_breaches gauge\n'));
      assert.ok(body.includes('gatehouse_revocation_sla_breaches 0\n'));
      assert.ok(
        !body.includes('gatehouse_revocation_latency_seconds{'),
        'no quantile while nothing was revoked',
      );
      assert.ok(body.includes('gatehouse_time_to_decision_seconds'));
      assert.ok(/^process_cpu_user_seconds_total \d/m.test(body), 'the process metrics too');
      for (const line of body.split('\n').filter((l) => l.startsWith('gatehouse_')))
        assert.match(line, /^gatehouse_[a-z_]+(\{[a-z]+="[^"]*"\})? -?[\d.e+-]+$/, line);

      await server.inject({
        method: 'GET',
        url: '/metrics',
        headers: { authorization: `Bearer ${scraper}` },
      });
      assert.equal(reports, 2, 'the next scrape asks again');

      const health = await server.inject({ method: 'GET', url: '/healthz' });
      assert.equal(health.statusCode, 200);
      assert.deepEqual(health.json(), { ok: true });
    } finally {
      await server.close();
    }
  } finally {
    await store.close();
  }
});
