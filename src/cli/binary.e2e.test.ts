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

  /** Starts a long-running command (serve, demo) and waits until it serves. */
  async function serving(args: string[]): Promise<{ proc: ChildProcess; url: string }> {
    const proc = spawn(process.execPath, [BIN, ...args], { cwd: root, env });
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      proc.stdout!.on('data', (d) => {
        out += d;
        const m = /serving at (\S+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      proc.on('exit', (code) => reject(new Error(`${args[0]} exited ${code}: ${out}`)));
    });
    return { proc, url };
  }
  async function stop(proc: ChildProcess | undefined): Promise<void> {
    if (!proc || proc.exitCode !== null) return;
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
  }

  test('a command on an embedded store held by serve is run by that server, with the same output and exit code', async () => {
    const before = run('grants', '--data', 'sim', '--json');
    assert.equal(before.code, 0, before.stderr);
    let server: ChildProcess | undefined;
    try {
      server = (await serving(['serve', '--data', 'sim', '--port', '0'])).proc;
      const sent = run('grants', '--data', 'sim', '--json');
      assert.equal(sent.code, 0, sent.stderr);
      assert.deepEqual(JSON.parse(sent.stdout), JSON.parse(before.stdout));
      const bad = run('grants', 'retry', 'grt_nope', '--as', 'bob@acme.test', '--data', 'sim');
      assert.equal(bad.code, 1, 'an input error keeps its exit code');
      assert.match(bad.stderr, /^error: .*grt_nope/m);
      const again = run('serve', '--data', 'sim', '--port', '0');
      assert.equal(again.code, 1, 'a second serve is not started by the first');
      // A holder with no command channel (a long sweep, an older server): told who holds it.
      rmSync(join(root, 'sim', 'serve.json'));
      const r = run('grants', '--data', 'sim');
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`in use by process ${server.pid} .*"serve"`));
    } finally {
      await stop(server);
    }
    assert.equal(run('grants', '--data', 'sim').code, 0, 'the lock is released when serve stops');
  });

  test("the README tour runs as printed while the demo serves, its commands sent to the demo's server", async () => {
    let demo: ChildProcess | undefined;
    try {
      const started = await serving(['demo', '--data', 'tour', '--port', '0']);
      demo = started.proc;
      const at = ['--data', 'tour'];
      const ok = (...args: string[]) => {
        const r = run(...args, ...at);
        assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
        return r;
      };
      assert.match(ok('requests', '--approver', 'carol@acme.test').stdout, /req_/);
      assert.match(ok('explain', 'github:write', '--for', 'bob@acme.test').stdout, /seat/);
      const req = JSON.parse(
        ok(
          'request',
          'analytics:writer',
          '--for',
          'bob@acme.test',
          '--reason',
          'Q3 revenue model',
          '--as',
          'bob@acme.test',
          '--json',
        ).stdout,
      );
      assert.equal(req.status, 'pending_approval');
      assert.equal(
        JSON.parse(ok('approve', req.id, '--as', 'carol@acme.test', '--json').stdout).status,
        'approved',
      );
      ok('sweep');
      assert.match(ok('grants', '--identity', 'bob@acme.test').stdout, /analytics:writer/);
      assert.match(ok('audit', 'trace', req.id).stdout, /grant\.activated/);
      assert.equal(JSON.parse(ok('audit', 'verify', '--json').stdout).ok, true);
      ok('report');
      // And the API tour: a token made through the running server answers as Carol.
      const token = JSON.parse(
        ok('token', 'create', '--identity', 'carol@acme.test', '--scopes', 'read,approve', '--json')
          .stdout,
      ).token as string;
      const me = await fetch(`${started.url}/api/v1/me`, {
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(me.status, 200);
      assert.equal(((await me.json()) as { identity: string }).identity, 'carol@acme.test');
    } finally {
      await stop(demo);
    }
  });
});
