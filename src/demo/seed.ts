import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Gatehouse } from '../app/gatehouse.js';
import { loadConfigDir } from '../config/load.js';
import { loadSnapshot } from '../config/snapshot.js';
import { withEmbeddedTarget } from '../connectors/postgres.js';
import { ident } from '../connectors/postgres.js';

const HERE = dirname(fileURLToPath(import.meta.url));
export const DEMO_CONFIG = join(HERE, 'acme');
export const DEMO_PEOPLE = join(HERE, 'hr', 'people.csv');

export interface DemoStep {
  path: string;
  request: string;
  status: string;
  outcome: string;
  reason: string;
}

/**
 * Builds Acme: applies the organisation, syncs its people (joiners get birthright access), and runs
 * requests through every path of the decision procedure, then provisions them into the target.
 */
export async function seedDemo(app: Gatehouse, dataDir: string): Promise<DemoStep[]> {
  const { config } = await loadConfigDir(DEMO_CONFIG);
  // The roles Gatehouse governs exist in the target before anyone asks for them, as a DBA would have made them.
  await withEmbeddedTarget(dataDir, async (query) => {
    for (const e of config.entitlements) {
      const role = e.target.role!;
      const exists = await query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
      if (exists.length === 0) await query(`CREATE ROLE ${ident(role)} NOLOGIN`);
    }
  });
  await app.apply(config, 'demo', false);
  await app.sync(await loadSnapshot(DEMO_PEOPLE), 'hr:demo-feed', ['human']);

  const steps: DemoStep[] = [];
  // The demo is seeded by the operator's own command: every actor is established as `cli`.
  const ask = async (path: string, input: Omit<Parameters<Gatehouse['request']>[0], 'via'>) => {
    const v = await app.request({ ...input, via: 'cli' });
    steps.push({
      path,
      request: v.id,
      status: v.status,
      outcome: v.decision.outcome,
      reason: v.decision.reasons.map((r) => r.code).join(','),
    });
    return v;
  };
  const why = 'needed for the Q3 reporting project';
  await ask('auto-approved by policy', {
    requester: 'bob@acme.test',
    beneficiary: 'bob@acme.test',
    entitlement: 'analytics:reader',
    justification: why,
    duration: 8 * 3600,
  });
  const w1 = await ask('manager approval', {
    requester: 'alice@acme.test',
    beneficiary: 'alice@acme.test',
    entitlement: 'github:write',
    justification: 'ship the billing service rewrite',
  });
  await app.act(w1.id, 'carol@acme.test', 'approve', 'ok for the rewrite', 'cli');
  const w2 = await ask('manager approval', {
    requester: 'dan@acme.test',
    beneficiary: 'dan@acme.test',
    entitlement: 'github:write',
    justification: 'fix the flaky deploy pipeline',
  });
  await app.act(w2.id, 'carol@acme.test', 'approve', '', 'cli');
  await ask('licence: no free seat', {
    requester: 'bob@acme.test',
    beneficiary: 'bob@acme.test',
    entitlement: 'github:write',
    justification: 'review and merge pull requests',
  });
  const v1 = await ask('two-stage approval', {
    requester: 'frank@acme.test',
    beneficiary: 'frank@acme.test',
    entitlement: 'erp:vendor-create',
    justification: 'onboard the new logistics vendors',
  });
  await app.act(v1.id, 'fiona@acme.test', 'approve', 'manager: fine', 'cli');
  await app.act(v1.id, 'erin@acme.test', 'approve', 'app owner: fine', 'cli');
  await ask('segregation of duties: blocked', {
    requester: 'frank@acme.test',
    beneficiary: 'frank@acme.test',
    entitlement: 'erp:payment-approve',
    justification: 'cover payment runs in August',
  });
  await ask('forbidden by policy', {
    requester: 'dave@acme.test',
    beneficiary: 'agent:triage-bot',
    entitlement: 'github:admin',
    justification: 'let the bot close stale issues',
    ticket: 'JIRA:ITSM-42',
  });
  await ask('forbidden by policy', {
    requester: 'heidi@acme.test',
    beneficiary: 'heidi@acme.test',
    entitlement: 'prod:deploy',
    justification: 'deploy my feature branch',
  });
  await ask('SoD exception stage', {
    requester: 'alice@acme.test',
    beneficiary: 'alice@acme.test',
    entitlement: 'prod:deploy',
    justification: 'release the billing service',
    duration: 3 * 86400,
  });
  await ask('waiting for approval', {
    requester: 'grace@acme.test',
    beneficiary: 'grace@acme.test',
    entitlement: 'erp:payment-approve',
    justification: 'cover payment runs in August',
  });
  await ask('break-glass', {
    requester: 'dan@acme.test',
    beneficiary: 'dan@acme.test',
    entitlement: 'prod:admin',
    justification: 'production outage INC-7: database failover',
    emergency: true,
  });
  await app.sweep();
  // Report where each request ended up, not where it started.
  for (const step of steps) step.status = (await app.requestView(step.request)).status;
  return steps;
}
