import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { StoreLockedError } from '../core/errors.js';
import { acquireLock } from './lock.js';
import { openStore } from './open.js';

const LOCK_MODULE = pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), 'lock.js')).href;

const lockFile = (dir: string) => join(dir, 'gatehouse.lock');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A pid no process has right now, starting from 999999. */
function deadPid(): number {
  for (let pid = 999_999; pid > 1; pid--) if (!alive(pid)) return pid;
  throw new Error('no free pid');
}

function lockedBy(pid: number, command: string) {
  return (e: unknown) => {
    assert.ok(e instanceof StoreLockedError, `a StoreLockedError, got ${String(e)}`);
    assert.match(e.message, new RegExp(`process ${pid} on `));
    assert.ok(e.message.includes(`"${command}"`), `names the command: ${e.message}`);
    return true;
  };
}

/** A child process that takes the lock and stays alive until killed. */
async function childHolding(dir: string, command: string): Promise<ChildProcess> {
  const code = `
    import { acquireLock } from ${JSON.stringify(LOCK_MODULE)};
    acquireLock(${JSON.stringify(dir)}, ${JSON.stringify(command)});
    process.stdout.write('locked\\n');
    setInterval(() => {}, 60_000);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('locked')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`the child exited (${code}): ${stderr}`)));
  });
  return child;
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

test('a second opener in this process is refused with the holder named', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-lock-'));
  try {
    const release = acquireLock(dir, 'gatehouse serve');
    try {
      const held = JSON.parse(readFileSync(lockFile(dir), 'utf8')) as Record<string, unknown>;
      assert.equal(held.pid, process.pid);
      assert.equal(held.host, hostname());
      assert.equal(held.command, 'gatehouse serve');
      assert.throws(
        () => acquireLock(dir, 'gatehouse sweep'),
        lockedBy(process.pid, 'gatehouse serve'),
      );
      // The refused opener left the holder's lock alone.
      assert.equal(
        (JSON.parse(readFileSync(lockFile(dir), 'utf8')) as { pid: number }).pid,
        process.pid,
      );
    } finally {
      release();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a second opener is refused naming the pid and command of another live process', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-lock-'));
  let child: ChildProcess | undefined;
  try {
    child = await childHolding(dir, 'gatehouse serve --port 8080');
    const pid = child.pid!;
    assert.throws(
      () => acquireLock(dir, 'gatehouse sweep'),
      lockedBy(pid, 'gatehouse serve --port 8080'),
    );
    // Opening the store is refused the same way, before PGlite ever touches the directory.
    await assert.rejects(
      openStore({ dataDir: dir, command: 'gatehouse sweep' }),
      lockedBy(pid, 'gatehouse serve --port 8080'),
    );
    assert.equal(existsSync(join(dir, 'pgdata')), false, 'the refused opener created no pgdata');

    // Killed without a chance to clean up, the child leaves its lock behind; it is taken over.
    await kill(child);
    assert.ok(existsSync(lockFile(dir)), 'a killed holder leaves its lock file');
    const release = acquireLock(dir, 'gatehouse sweep');
    try {
      assert.equal(
        (JSON.parse(readFileSync(lockFile(dir), 'utf8')) as { pid: number }).pid,
        process.pid,
      );
    } finally {
      release();
    }
  } finally {
    if (child) await kill(child);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a lock left by a dead process on this host is taken over', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-lock-'));
  try {
    const pid = deadPid();
    writeFileSync(
      lockFile(dir),
      JSON.stringify({
        pid,
        host: hostname(),
        command: 'gatehouse serve',
        since: '2026-01-01T00:00:00.000Z',
      }),
    );
    const release = acquireLock(dir, 'gatehouse sweep');
    try {
      const held = JSON.parse(readFileSync(lockFile(dir), 'utf8')) as Record<string, unknown>;
      assert.equal(held.pid, process.pid);
      assert.equal(held.command, 'gatehouse sweep');
    } finally {
      release();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a takeover left half-done by a crashed process does not block the next one', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-lock-'));
  try {
    const pid = deadPid();
    const stale = JSON.stringify({ pid, host: hostname(), command: 'crashed', since: 'then' });
    writeFileSync(lockFile(dir), stale);
    // The token a taker claims for exactly this stale lock, written by one that died holding it.
    const token = `${lockFile(dir)}.takeover-${createHash('sha256').update(stale).digest('hex').slice(0, 16)}`;
    writeFileSync(
      token,
      JSON.stringify({ pid, host: hostname(), command: 'taker', since: 'then' }),
    );
    const release = acquireLock(dir, 'gatehouse sweep');
    try {
      assert.equal(
        (JSON.parse(readFileSync(lockFile(dir), 'utf8')) as { pid: number }).pid,
        process.pid,
      );
      assert.deepEqual(readdirSync(dir), ['gatehouse.lock']);
    } finally {
      release();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a lock held from another host is never taken over, since its process cannot be checked', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-lock-'));
  try {
    const pid = deadPid();
    const other = `not-${hostname()}`;
    writeFileSync(
      lockFile(dir),
      JSON.stringify({
        pid,
        host: other,
        command: 'gatehouse serve',
        since: '2026-01-01T00:00:00.000Z',
      }),
    );
    assert.throws(
      () => acquireLock(dir, 'gatehouse sweep'),
      (e: unknown) => {
        lockedBy(pid, 'gatehouse serve')(e);
        assert.ok((e as Error).message.includes(`on ${other}`), (e as Error).message);
        return true;
      },
    );
    assert.ok(existsSync(lockFile(dir)), 'the foreign lock is left in place');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('release removes the lock file and lets the next opener in', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-lock-'));
  try {
    const release = acquireLock(dir, 'gatehouse serve');
    assert.ok(existsSync(lockFile(dir)));
    release();
    assert.equal(existsSync(lockFile(dir)), false, 'release removed the lock file');
    release(); // a second release is harmless
    const again = acquireLock(dir, 'gatehouse sweep');
    assert.ok(existsSync(lockFile(dir)));
    again();
    assert.equal(existsSync(lockFile(dir)), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * Racers that each take the lock of the directory named on a stdin line, as close to the same
 * instant as they can, and answer `held` or `locked`. A racer keeps what it holds until it exits,
 * so a later racer can never legitimately take it over.
 */
function racer(): ChildProcess & { answers: string[]; waiting?: () => void } {
  const code = `
    import { createInterface } from 'node:readline';
    import { acquireLock } from ${JSON.stringify(LOCK_MODULE)};
    createInterface({ input: process.stdin }).on('line', (line) => {
      const { dir, go } = JSON.parse(line);
      while (Date.now() < go) {} // line up with the other racers
      let answer;
      try {
        acquireLock(dir, 'racer');
        answer = 'held';
      } catch (e) {
        answer = e.kind === 'locked' ? 'locked' : 'error: ' + e.message;
      }
      process.stdout.write(answer + '\\n');
    });
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], {
    stdio: ['pipe', 'pipe', 'inherit'],
  }) as ChildProcess & { answers: string[]; waiting?: () => void };
  child.answers = [];
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    const lines = buf.split('\n');
    buf = lines.pop()!;
    child.answers.push(...lines);
    child.waiting?.();
  });
  return child;
}

test('of several processes taking over one stale lock at once, exactly one holds it', async () => {
  const racers = Array.from({ length: 6 }, racer);
  const dirs: string[] = [];
  try {
    const pid = deadPid();
    for (let round = 0; round < 100; round++) {
      const dir = mkdtempSync(join(tmpdir(), 'gatehouse-lock-race-'));
      dirs.push(dir);
      writeFileSync(
        lockFile(dir),
        JSON.stringify({
          pid,
          host: hostname(),
          command: 'crashed',
          since: '2026-01-01T00:00:00Z',
        }),
      );
      const go = Date.now() + 30;
      const answers = await Promise.all(
        racers.map(
          (r) =>
            new Promise<string>((resolve) => {
              const want = round + 1;
              r.waiting = () => {
                if (r.answers.length >= want) resolve(r.answers[round]!);
              };
              r.stdin!.write(`${JSON.stringify({ dir, go })}\n`);
              r.waiting();
            }),
        ),
      );
      const held = answers.filter((a) => a === 'held').length;
      assert.deepEqual(
        answers.filter((a) => a !== 'held' && a !== 'locked'),
        [],
        'every loser is told the store is locked',
      );
      assert.equal(held, 1, `round ${round}: exactly one holder (${answers.join(', ')})`);
      const holder = JSON.parse(readFileSync(lockFile(dir), 'utf8')) as { pid: number };
      const winner = racers[answers.indexOf('held')]!;
      assert.equal(holder.pid, winner.pid, 'the lock file names the racer that holds it');
      assert.deepEqual(readdirSync(dir), ['gatehouse.lock'], 'no takeover token is left behind');
    }
  } finally {
    await Promise.all(
      racers.map(async (r) => {
        const exited = new Promise((done) => r.once('exit', done));
        r.stdin!.end();
        await exited;
      }),
    );
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
});
