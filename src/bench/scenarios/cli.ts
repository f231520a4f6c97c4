import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { type Scenario, type ScenarioResult, pct, round } from '../suite/measure.js';
import { benchStore } from '../suite/store.js';

const MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'cli', 'main.js');

/**
 * Wall time of whole CLI processes, as an operator meets them: `gatehouse --help`, and
 * `grants --json` on an embedded store and (with DATABASE_URL) on the server, beside `node -e 0`
 * (the floor any Node process pays here). Medians over `cliRuns` runs after one warm-up.
 */
export const cliScenario: Scenario = {
  name: 'cli',
  usesWorld: false,
  async run({ profile, say }) {
    const runs = Math.max(1, profile.cliRuns);
    const node = timeProcess(['-e', '0'], {}, runs);
    const out: Record<string, ScenarioResult> = {};
    const entry = (
      value: number,
      target: number,
      detail: Record<string, unknown>,
    ): ScenarioResult => ({
      value: round(value, 1),
      unit: 'ms median',
      baseline: round(node, 1),
      baseline_of: '`node -e 0`, median',
      ratio: round(value / node, 2),
      target: `< ${target} ms`,
      pass: value < target,
      peak_rss_mb: 0,
      detail: { runs, ...detail },
    });
    const help = timeProcess([MAIN, '--help'], {}, runs);
    out['cli-help'] = entry(help, 150, {});
    const dir = mkdtempSync(join(tmpdir(), 'gh-bench-cli-'));
    const noServer = { DATABASE_URL: '' };
    try {
      run([MAIN, 'init', '--data', join(dir, 'store')], noServer);
      const embedded = timeProcess(
        [MAIN, 'grants', '--json', '--data', join(dir, 'store')],
        noServer,
        runs,
      );
      out['cli-grants-embedded'] = entry(embedded, 700, { store: 'embedded' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    if (process.env.DATABASE_URL) {
      const store = await benchStore('cli');
      try {
        const env = { DATABASE_URL: store.location };
        run([MAIN, 'init'], env);
        const server = timeProcess([MAIN, 'grants', '--json'], env, runs);
        out['cli-grants-server'] = entry(server, 700, { store: 'server' });
      } finally {
        await store.close();
      }
    }
    say(
      `cli: node -e 0 ${node.toFixed(0)} ms; ` +
        Object.entries(out)
          .map(([k, v]) => `${k} ${v.value} ms`)
          .join('; '),
    );
    return out;
  },
};

function run(args: string[], env: Record<string, string>): void {
  const r = spawnSync(process.execPath, args, {
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
  if (r.status !== 0)
    throw new Error(`cli: node ${args.join(' ')} failed: ${r.stderr || r.stdout}`);
}

/** Median wall time of `node args…` (one untimed warm-up run fills the file cache). */
function timeProcess(args: string[], env: Record<string, string>, runs: number): number {
  run(args, env);
  const xs: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    run(args, env);
    xs.push(performance.now() - t);
  }
  return pct(xs, 50);
}
