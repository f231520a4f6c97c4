/**
 * The benchmark suite (issue 11, ADR 0027).
 *
 *   npm run bench -- --profile small|medium|large [--scenario NAME]… [--seed N] [--out FILE]
 *
 * On PGlite by default; on the PostgreSQL server with DATABASE_URL. Writes the results to
 * bench/results/latest.json (or --out) and prints a table at the end. BENCH_<COUNT> overrides
 * one count of the profile (BENCH_SUBMIT_REQUESTS=5000; see generate/profiles.ts).
 */
import '../../v8-flags.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { profileNamed } from '../generate/profiles.js';
import { runSuite, table } from './run.js';

const { values } = parseArgs({
  options: {
    profile: { type: 'string', default: 'small' },
    scenario: { type: 'string', multiple: true },
    seed: { type: 'string', default: '11' },
    out: { type: 'string', default: 'bench/results/latest.json' },
  },
});
const profile = profileNamed(values.profile!);
const only = values.scenario?.flatMap((s) => s.split(','));
const write = (r: object) => {
  mkdirSync(dirname(values.out!), { recursive: true });
  writeFileSync(values.out!, JSON.stringify(r, null, 2) + '\n');
};
const results = await runSuite({
  progress: write,
  profile,
  ...(only ? { only } : {}),
  seed: Number(values.seed),
  say: (line) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`),
});
if (process.env.DATABASE_URL) {
  const c = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await c.connect();
  results.machine.postgresql = (await c.query<{ v: string }>('SHOW server_version')).rows[0]?.v;
  await c.end();
}
console.log(`\n${table(results)}\n`);
write(results);
console.log(`results: ${values.out} (${results.seconds} s)`);
