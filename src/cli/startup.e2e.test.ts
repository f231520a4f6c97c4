import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after, describe, test } from 'node:test';
import { runCli } from './run.js';

const BIN = fileURLToPath(new URL('./main.js', import.meta.url));

/** Packages a command must not load unless it uses them (ADR 0029). */
const HEAVY = [
  'pg',
  '@electric-sql/pglite',
  '@cedar-policy/cedar-wasm',
  'fastify',
  'prom-client',
  'zod',
  'yaml',
  'ldapts',
  'undici',
  'nodemailer',
];

/** Which of HEAVY the built binary loads for these arguments, on the embedded store. */
describe('what a command loads', () => {
  const root = mkdtempSync(join(tmpdir(), 'gatehouse-startup-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  // A loader hook that names every module resolved, with the hook registered before the CLI.
  const hooks = join(root, 'hooks.mjs');
  writeFileSync(
    hooks,
    `export async function resolve(s, c, next) { const r = await next(s, c); process.stderr.write('LOADED ' + r.url + '\\n'); return r; }`,
  );
  const register = join(root, 'register.mjs');
  writeFileSync(
    register,
    `import { register } from 'node:module'; register(${JSON.stringify(pathToFileURL(hooks).href)});`,
  );
  const { NODE_TEST_CONTEXT: _, ...inherited } = process.env;
  const env = { ...inherited, DATABASE_URL: '' };
  const urlsLoaded = (...args: string[]) => {
    const r = spawnSync(process.execPath, ['--import', register, BIN, ...args], {
      cwd: root,
      env,
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    return { urls: [...r.stderr.matchAll(/^LOADED (.*)$/gm)].map((m) => m[1]!), stdout: r.stdout };
  };
  const loaded = (...args: string[]) => {
    const { urls } = urlsLoaded(...args);
    return HEAVY.filter((p) => urls.some((u) => u.includes(`/node_modules/${p}/`)));
  };

  test('gatehouse --help loads no driver, transport, schema library or policy engine', () => {
    assert.deepEqual(loaded('--help'), []);
  });

  test('help is printed from the build’s command index, as runCli prints it, loading no command', async () => {
    const inProcess = async (args: string[]) => {
      const out: string[] = [];
      await runCli(args, { stdout: (t) => out.push(t), stderr: () => {} }, { env: {}, cwd: root });
      return `${out.join('\n')}\n`;
    };
    for (const args of [
      ['--help'],
      [],
      ['grants', '--help'],
      ['-h', 'grants', 'retry'],
      ['--data', 'x', '-h'],
    ]) {
      const { urls, stdout } = urlsLoaded(...args);
      assert.deepEqual(
        urls.filter((u) => /\/cli\/(commands|run|help)[/.]/.test(u)),
        [],
        args.join(' '),
      );
      assert.equal(stdout, await inProcess(args), args.join(' '));
    }
  });

  test('a listing on the embedded store loads PGlite and nothing else of weight', () => {
    assert.deepEqual(loaded('init', '--data', 'store'), ['@electric-sql/pglite']);
    assert.deepEqual(loaded('grants', '--json', '--data', 'store'), ['@electric-sql/pglite']);
    assert.deepEqual(loaded('audit', 'verify', '--data', 'store'), ['@electric-sql/pglite']);
  });
});
