/**
 * CLI start-up: wall time and peak RSS of whole `gatehouse` processes, beside the raw baselines
 * of the same run (issue 11's targets: `--help` under 150 ms, a command on the embedded store
 * under 700 ms).
 *
 *   npm run build && node dist/bench/startup.bench.js
 *   BENCH_RUNS=10                     (processes per measurement; the median is reported)
 *   BENCH_CLI=/other/dist/cli/main.js (time another build's CLI, for a before/after)
 *
 * Baselines: `node -e 0` (Node's own start-up) and a bare PGlite open, one query and close on
 * the same data directory (what the embedded store costs before Gatehouse does anything).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const CLI = process.env.BENCH_CLI ?? fileURLToPath(new URL('../cli/main.js', import.meta.url));
const PGLITE = fileURLToPath(
  new URL('../../node_modules/@electric-sql/pglite/dist/index.js', import.meta.url),
);
/** Printed by every measured process as it exits: its own peak RSS, in KB. */
const REPORT_RSS = `data:text/javascript,process.on('exit',()=>process.stderr.write('\\nmaxrss '+process.resourceUsage().maxRSS+'\\n'))`;

interface Sample {
  ms: number;
  rssMb: number;
}

function run(args: string[]): Sample {
  const t = performance.now();
  const r = spawnSync(process.execPath, ['--import', REPORT_RSS, ...args], { encoding: 'utf8' });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  const rss = /maxrss (\d+)/.exec(r.stderr);
  return { ms, rssMb: Number(rss?.[1] ?? NaN) / 1024 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function measure(name: string, args: string[]): Record<string, number | string> {
  run(args); // warm the file cache
  const samples = Array.from({ length: RUNS }, () => run(args));
  return {
    measurement: name,
    median_ms: Math.round(median(samples.map((s) => s.ms))),
    min_ms: Math.round(Math.min(...samples.map((s) => s.ms))),
    peak_rss_mb: Math.round(median(samples.map((s) => s.rssMb))),
  };
}

const dir = mkdtempSync(join(tmpdir(), 'gh-startup-bench-'));
try {
  const data = join(dir, 'store');
  run([CLI, 'init', '--data', data]);
  const bare = `const { PGlite } = await import(${JSON.stringify(PGLITE)});
    const db = await PGlite.create(${JSON.stringify(join(data, 'pgdata'))});
    await db.query('SELECT 1'); await db.close();`;
  const rows = [
    measure('baseline: node -e 0', ['-e', '0']),
    measure('baseline: PGlite open, SELECT 1, close', ['--input-type=module', '-e', bare]),
    measure('gatehouse --help', [CLI, '--help']),
    measure('gatehouse grants --json (embedded store)', [CLI, 'grants', '--json', '--data', data]),
  ];
  console.log(`cli: ${CLI}, ${RUNS} runs each, load average ${loadavg()[0]!.toFixed(1)}`);
  console.table(rows);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
