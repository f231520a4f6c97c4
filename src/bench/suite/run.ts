import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { loadConfigDir } from '../../config/load.js';
import { loadWorld } from '../generate/load.js';
import type { Profile } from '../generate/profiles.js';
import { writeConfigDir } from '../generate/write-config.js';
import { type BenchWorld, generateWorld } from '../generate/world.js';
import { benchApp } from './app.js';
import type { ScenarioContext, ScenarioResult } from './measure.js';
import { PENDING, allScenarios } from './scenarios.js';
import { benchStore, checkpoint } from './store.js';

export interface SuiteResults {
  machine: Record<string, unknown>;
  profile: string;
  /** The profile's counts as run, BENCH_<COUNT> overrides included. */
  counts: Profile;
  store: 'embedded' | 'server';
  started_at: string;
  seconds: number;
  world: Record<string, number>;
  /** Set while scenarios are still to run: a file written by a run that was cut short. */
  partial?: boolean;
  scenarios: Record<string, ScenarioResult>;
}

/**
 * Generates the profile's organisation, writes and validates its configuration directory,
 * applies it to a store of the suite's own, bulk-loads identities and grants, then runs the
 * scenarios in order, each printing a progress line. Stores are dropped at the end.
 */
export async function runSuite(opts: {
  profile: Profile;
  only?: string[];
  seed?: number;
  say: (line: string) => void;
  /** Called after each scenario with the results so far, so a run cut short keeps them. */
  progress?: (partial: SuiteResults) => void;
}): Promise<SuiteResults> {
  const { profile, say } = opts;
  const started = performance.now();
  const scenarios = (await allScenarios()).filter((s) => !opts.only || opts.only.includes(s.name));
  for (const name of opts.only ?? []) {
    if (scenarios.some((s) => s.name === name)) continue;
    if (PENDING.includes(name))
      say(`scenario ${name}: its module is not wired into the suite yet (suite/scenarios.ts)`);
    else throw new Error(`--scenario: "${name}" is not a scenario of the suite`);
  }
  const load1 = loadavg()[0]!;
  const snapshot = (): SuiteResults => ({
    machine: {
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: cpus().length,
      memory_gib: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      load_average_start: Number(load1.toFixed(2)),
      load_average_end: Number(loadavg()[0]!.toFixed(2)),
    },
    profile: profile.name,
    counts: { ...profile },
    store: store.kind,
    started_at: new Date(Date.now() - (performance.now() - started)).toISOString(),
    seconds: Number(((performance.now() - started) / 1000).toFixed(1)),
    world: worldStats,
    scenarios: results,
  });
  const dir = mkdtempSync(join(tmpdir(), 'gh-bench-world-'));
  const store = await benchStore('world');
  const results: SuiteResults['scenarios'] = {};
  const worldStats: Record<string, number> = {};
  try {
    let t = performance.now();
    let world: BenchWorld | undefined = generateWorld(profile, opts.seed ?? 11);
    const { config: configDir } = writeConfigDir(world, dir);
    const loaded = await loadConfigDir(configDir);
    Object.assign(worldStats, {
      identities: world.identities.length,
      people: world.people,
      apps: world.apps.length,
      entitlements: world.entitlements.length,
      sod_rules: world.sod.length,
      grants: world.grants.length,
    });
    say(
      `profile ${profile.name}: ${world.people} people, ${world.identities.length - world.people} non-human identities, ` +
        `${world.apps.length} apps, ${world.entitlements.length} entitlements, ${world.sod.length} SoD rules, ` +
        `${world.grants.length} grants generated in ${((performance.now() - t) / 1000).toFixed(1)} s; store ${store.kind}`,
    );
    if (scenarios.some((s) => s.usesWorld)) {
      t = performance.now();
      await benchApp(store.sql).apply(loaded.config, 'bench', false);
      const n = await loadWorld(store, world, new Date());
      worldStats.load_seconds = Number(((performance.now() - t) / 1000).toFixed(1));
      // The load writes gigabytes of WAL, and the checkpoints it forces are spread over the next
      // minute: written first, so that no scenario is measured beside them (the decide p99 of a
      // medium run rose from 1.95 to 2.42 ms with one under way). A store whose grants came over
      // months has no such write pending.
      if (store.kind === 'server')
        worldStats.checkpoint_seconds = Number(((await checkpoint(store)) / 1000).toFixed(1));
      say(
        `loaded: configuration applied, ${n.identities} identities and ${n.grants} grants copied in ${worldStats.load_seconds} s`,
      );
    }
    const ctx: ScenarioContext = { profile, world, store, configDir, say };
    world = undefined; // ctx holds it, until releaseWorld
    const lastWorldUse = scenarios.findLastIndex((s) => s.usesWorld);
    // No scenario of this run needs it (`--scenario api`, say): dropped before the first.
    if (lastWorldUse < 0) releaseWorld(ctx);
    for (const [i, s] of scenarios.entries()) {
      const ts = performance.now();
      const r = await s.run(ctx);
      if (i === lastWorldUse) releaseWorld(ctx);
      for (const [name, result] of Object.entries(r)) {
        results[name] = result;
        say(
          `  ${name}: ${result.value} ${result.unit} (baseline ${result.baseline}, ratio ${result.ratio}) ` +
            `target ${result.target}: ${result.pass ? 'pass' : 'MISS'} [${((performance.now() - ts) / 1000).toFixed(1)} s]`,
        );
      }
      opts.progress?.({ ...snapshot(), partial: true });
    }
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return snapshot();
}

/** The end-of-run table: one row per measurement. */
export function table(r: SuiteResults): string {
  const rows = [['scenario', 'value', 'baseline', 'ratio', 'target', 'pass', 'peak RSS']];
  for (const [name, s] of Object.entries(r.scenarios))
    rows.push([
      name,
      `${s.value} ${s.unit}`,
      `${s.baseline} (${s.baseline_of})`,
      String(s.ratio),
      s.target,
      s.pass ? 'pass' : 'MISS',
      s.peak_rss_mb ? `${s.peak_rss_mb} MiB` : '',
    ]);
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  return rows.map((row) => row.map((cell, c) => cell.padEnd(widths[c]!)).join('  ')).join('\n');
}

/**
 * The generated organisation (hundreds of MB of objects on `medium`) is the harness's, not
 * Gatehouse's: once no scenario left needs it, it is dropped and collected, so the scenarios
 * after it — the API's server among them, which runs in this process — do not mark it in every
 * major GC. No `serve` holds such a heap. (A collection after every scenario was tried and
 * dropped: provision ran at half its rate after it, twice.)
 */
function releaseWorld(ctx: ScenarioContext): void {
  (ctx as { world?: unknown }).world = undefined;
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}
