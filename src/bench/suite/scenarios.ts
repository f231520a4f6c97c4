import { auditVerifyScenario } from '../scenarios/audit-verify.js';
import { cliScenario } from '../scenarios/cli.js';
import { decideScenario } from '../scenarios/decide.js';
import { expireScenario, provisionScenario } from '../scenarios/lifecycle.js';
import { roleFitScenario } from '../scenarios/role-fit.js';
import { submitScenario } from '../scenarios/submit.js';
import { syncScenario } from '../scenarios/sync.js';
import { uiScenario } from '../scenarios/ui.js';
import type { Scenario } from './measure.js';

/**
 * The suite's scenarios in the order they run. Read-only ones first on the freshly loaded world;
 * submit, sync and ui change it, so they follow; then those that do not need the generated
 * organisation, which the suite drops after the last one that does (suite/run.ts).
 */
export const BUILT_IN: Scenario[] = [
  decideScenario,
  roleFitScenario,
  submitScenario,
  syncScenario,
  uiScenario,
  cliScenario,
  auditVerifyScenario,
  provisionScenario,
  expireScenario,
];

/**
 * Scenarios other modules provide, loaded only when the suite runs: the reconciliation and API
 * benchmarks (src/bench/reconcile.bench.ts, src/bench/api.bench.ts). Each exports
 * `scenario: Scenario` (suite/measure.ts) and runs its own main only when started directly, so
 * importing it measures nothing by itself. A scenario with
 * `usesWorld` gets the loaded organisation and store; without, it makes what it needs.
 */
export const EXTERNAL: (() => Promise<Scenario>)[] = [
  () => import('../reconcile.bench.js').then((m) => m.scenario),
  () => import('../api.bench.js').then((m) => m.scenario),
];

/** Names the suite knows but whose module is not wired yet: asked for, they are reported. */
export const PENDING: string[] = [];

export async function allScenarios(): Promise<Scenario[]> {
  return [...BUILT_IN, ...(await Promise.all(EXTERNAL.map((load) => load())))];
}
