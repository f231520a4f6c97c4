import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROFILES, tiny } from '../generate/profiles.js';
import { writeConfigDir } from '../generate/write-config.js';
import { generateWorld } from '../generate/world.js';
import { allScenarios } from './scenarios.js';
import { runSuite } from './run.js';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'cli', 'main.js');

function filesOf(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[p.slice(dir.length)] = readFileSync(p, 'utf8');
    }
  };
  walk(dir);
  return out;
}

test('the generator writes the same organisation for the same seed, and gatehouse validate accepts it', () => {
  const dirs = [0, 1, 2].map(() => mkdtempSync(join(tmpdir(), 'gh-bench-gen-')));
  try {
    const profile = tiny(PROFILES.small!);
    const [a, b, c] = [11, 11, 12].map((seed, i) => {
      writeConfigDir(generateWorld(profile, seed), dirs[i]!);
      return filesOf(dirs[i]!);
    });
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
    const r = spawnSync(process.execPath, [CLI, 'validate', join(dirs[0]!, 'config')], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  } finally {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
});

test('the generated organisation has a manager tree, owned non-human identities and peers with similar access', () => {
  const world = generateWorld(tiny(PROFILES.small!), 11);
  const ids = new Set(world.identities.map((i) => i.id));
  const people = world.identities.slice(0, world.people);
  assert.ok(
    people.slice(1).every((p) => ids.has(p.manager)),
    'every person but the head has a manager',
  );
  const nhi = world.identities.slice(world.people);
  assert.equal(nhi.length, world.people * 2);
  assert.ok(nhi.every((i) => i.kind !== 'human' && ids.has(i.owner)));
  assert.deepEqual(
    new Set(world.apps.map((a) => a.risk)),
    new Set(['low', 'medium', 'high', 'critical']),
  );
  assert.ok(world.sod.length > 0 && world.grants.length > 0);
});

test('every scenario of the small profile runs once with tiny counts and reports value, baseline and target', async () => {
  const lines: string[] = [];
  const r = await runSuite({ profile: tiny(PROFILES.small!), say: (l) => lines.push(l) });
  const names = Object.keys(r.scenarios);
  for (const s of await allScenarios())
    assert.ok(
      names.some((n) => n === s.name || n.startsWith(`${s.name}-`)),
      `${s.name} reported: ${names.join(', ')}`,
    );
  for (const [name, s] of Object.entries(r.scenarios)) {
    assert.ok(Number.isFinite(s.value) && s.value > 0, `${name} value ${s.value}`);
    assert.ok(Number.isFinite(s.baseline) && s.baseline > 0, `${name} baseline ${s.baseline}`);
    assert.ok(Number.isFinite(s.ratio), `${name} ratio`);
    assert.equal(typeof s.pass, 'boolean');
  }
  // Decisions were drawn to run every step: none stopped at the duplicate check.
  const codes = r.scenarios.decide!.detail!.reason_codes as Record<string, number>;
  assert.equal(codes.duplicate, undefined);
  assert.ok(Object.keys(r.scenarios.decide!.detail!.outcomes as object).length >= 2);
  assert.equal((r.scenarios['audit-verify']!.detail as { events: number }).events >= 2000, true);
  assert.equal(r.scenarios.expire!.detail!.revoked, 40);
  // The wired scenarios report like the others: reconciliation found the seeded drift, every
  // API call was answered, and each UI page's calls answered 200 (the scenario throws otherwise).
  assert.equal(r.scenarios.reconcile!.detail!.status, 'complete/complete');
  assert.equal(r.scenarios.api!.detail!.failed, 0);
  // The API's server ran in a process of its own (ADR 0060), on the suite's kind of store, and
  // said where its slowest paced calls were.
  assert.equal(r.scenarios.api!.detail!.store, r.store);
  assert.ok((r.scenarios.api!.detail!.at_rate as { tail?: object }).tail);
  for (const page of ['ui-access', 'ui-access-deep', 'ui-access-person', 'ui-inbox'])
    assert.ok(r.scenarios[page], `${page} reported`);
});
