import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { PGlite } from '@electric-sql/pglite';
import { DEMO_CONFIG, DEMO_PEOPLE } from '../demo/seed.js';

const BIN = fileURLToPath(new URL('./main.js', import.meta.url));

/** The installed `gatehouse` binary, run as a user runs it, on the embedded store. */
describe('gatehouse binary', () => {
  const root = mkdtempSync(join(tmpdir(), 'gatehouse-bin-'));
  // These tests are about the embedded store and its lock, whatever store the suite runs on.
  // NODE_TEST_CONTEXT would make a child `node` report to this test runner instead of printing.
  const { NODE_TEST_CONTEXT: _, ...inherited } = process.env;
  const env = { ...inherited, DATABASE_URL: '' };
  const run = (...args: string[]) => {
    const r = spawnSync(process.execPath, [BIN, ...args], { cwd: root, env, encoding: 'utf8' });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  after(() => rmSync(root, { recursive: true, force: true }));

  test('the README demo builds Acme on the embedded store and provisions into its target', () => {
    const r = run('demo', '--no-serve', '--data', 'demo');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /created the Acme demo organisation/);
    for (const path of [
      'auto-approved by policy',
      'licence: no free seat',
      'segregation of duties: blocked',
      'forbidden by policy',
      'SoD exception stage',
      'break-glass',
    ]) {
      assert.match(r.stdout, new RegExp(path));
    }
    assert.match(r.stdout, /\d+ grants active and verified in the target database/);
    // The hints work as printed: npx, this data directory, a real request id.
    const trace = /^ {2}npx gatehouse (audit trace req_\w+ --data demo)$/m.exec(r.stdout);
    assert.ok(trace, r.stdout);
    const traced = run(...trace[1]!.split(' '));
    assert.equal(traced.code, 0, traced.stderr);
    assert.match(traced.stdout, /grant\.activated/);
    const again = run('demo', '--no-serve', '--data', 'demo');
    assert.match(
      again.stdout,
      /demo organisation already in/,
      'running the demo again does not repeat it',
    );
    assert.equal(JSON.parse(run('audit', 'verify', '--data', 'demo', '--json').stdout).ok, true);
  });

  test('a command before init says to run init', () => {
    const r = run('grants', '--data', 'nothing-here');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /run `gatehouse init`/);
  });

  test('a production store refuses --now; a simulation store accepts it and runs the lifecycle', async () => {
    assert.equal(run('init', '--data', 'prod').code, 0);
    const refused = run('--data', 'prod', 'grants', '--now', '2027-01-01T00:00:00Z');
    assert.equal(refused.code, 2);
    assert.match(
      refused.stderr,
      /--now is refused: this store was not created with `gatehouse init --simulation`/,
    );

    assert.equal(run('init', '--simulation', '--data', 'sim').code, 0);
    // The target's roles exist before Gatehouse governs them, as a DBA would have made them.
    const target = await PGlite.create(join(root, 'sim', 'target'));
    await target.exec(
      'CREATE ROLE analytics_reader NOLOGIN; CREATE ROLE gh_read NOLOGIN; CREATE ROLE wiki_read NOLOGIN; CREATE ROLE wiki_edit NOLOGIN',
    );
    await target.close();
    const at = ['--data', 'sim', '--now', '2027-01-01T09:00:00Z'];
    assert.equal(run('apply', DEMO_CONFIG, ...at).code, 0);
    assert.equal(run('identities', 'sync', DEMO_PEOPLE, '--kinds', 'human', ...at).code, 0);
    const req = run(
      'request',
      'analytics:reader',
      '--for',
      'bob@acme.test',
      '--duration',
      '8h',
      '--reason',
      'look at the Q3 numbers',
      '--as',
      'bob@acme.test',
      '--json',
      ...at,
    );
    assert.equal(req.code, 0, req.stderr);
    const view = JSON.parse(req.stdout); // stdout holds exactly one JSON document
    assert.equal(view.status, 'approved');
    assert.equal(run('sweep', ...at).code, 0);
    const grants = JSON.parse(
      run('grants', '--identity', 'bob@acme.test', '--json', ...at).stdout,
    ).grants;
    assert.equal(
      grants.find((g: { entitlement: string }) => g.entitlement === 'analytics:reader').state,
      'active',
    );
    const later = ['--data', 'sim', '--now', '2027-01-01T18:00:00Z'];
    assert.equal(run('sweep', ...later).code, 0);
    const after = JSON.parse(
      run('grants', '--identity', 'bob@acme.test', '--json', ...later).stdout,
    ).grants;
    assert.equal(
      after.find((g: { entitlement: string }) => g.entitlement === 'analytics:reader').state,
      'revoked',
    );
  });

  test('a second process on an embedded store in use is told which process holds it', async () => {
    let server: ChildProcess | undefined;
    try {
      server = spawn(process.execPath, [BIN, 'serve', '--data', 'sim', '--port', '0'], {
        cwd: root,
        env: { ...env, GATEHOUSE_API_TOKEN: 'test-token' },
      });
      await new Promise<void>((resolve, reject) => {
        let out = '';
        server!.stdout!.on('data', (d) => {
          out += d;
          if (out.includes('serving at')) resolve();
        });
        server!.on('exit', (code) => reject(new Error(`serve exited ${code}`)));
      });
      const r = run('grants', '--data', 'sim');
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`in use by process ${server.pid} .*"serve"`));
    } finally {
      server?.kill('SIGTERM');
      await new Promise((r) => server?.once('exit', r));
    }
    assert.equal(run('grants', '--data', 'sim').code, 0, 'the lock is released when serve stops');
  });
});
