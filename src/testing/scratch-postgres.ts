import { execFileSync, spawn } from 'node:child_process';
import {
  chownSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { refusingPort } from '../connectors/test-targets.js';

/**
 * A throwaway PostgreSQL server that checks passwords (SCRAM-SHA-256 for every connection), for
 * tests of credentials: the shared server here trusts every local connection, so it cannot show
 * that a password works, or that it stops working. Its statement log (`log_statement = all`) is
 * kept, so a test can read what reached the server.
 */
export interface ScratchPostgres {
  /** The superuser's URL (user `gh_admin`). */
  url: string;
  host: string;
  port: number;
  /** Everything the server logged so far. */
  log(): string;
  stop(): Promise<void>;
}

const ADMIN = 'gh_admin';

function binDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(root, versions[0], 'bin');
}

/** initdb and postgres refuse to run as root: as root, they run as the `postgres` user. */
function asServerUser(): string[] | undefined {
  if (userInfo().uid !== 0) return [];
  try {
    execFileSync('id', ['postgres'], { stdio: 'ignore' });
    return ['runuser', '-u', 'postgres', '--'];
  } catch {
    return undefined;
  }
}

/** Why a scratch server cannot be started here, or undefined when it can. */
export function scratchPostgresMissing(): string | undefined {
  if (!binDir()) return 'PostgreSQL server binaries are not installed (/usr/lib/postgresql/*/bin)';
  if (!asServerUser()) return 'running as root without a postgres user to run the server as';
  return undefined;
}

export async function scratchPostgres(): Promise<ScratchPostgres> {
  const bin = binDir()!;
  const prefix = asServerUser()!;
  const dir = mkdtempSync(join(tmpdir(), 'gh-connectors-pg-'));
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  writeFileSync(join(dir, 'pw'), password);
  if (prefix.length > 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    chownSync(dir, uid, gid);
    chownSync(join(dir, 'pw'), uid, gid);
  }
  const run = (cmd: string, args: string[]) => {
    const [head, ...rest] = [...prefix, cmd, ...args];
    return { head: head!, rest };
  };
  const init = run(join(bin, 'initdb'), [
    '-D',
    join(dir, 'data'),
    '-U',
    ADMIN,
    `--pwfile=${join(dir, 'pw')}`,
    '--auth=scram-sha-256',
    '-N',
  ]);
  execFileSync(init.head, init.rest, { stdio: 'ignore' });
  const port = await refusingPort();
  const logFile = join(dir, 'server.log');
  const start = run(join(bin, 'postgres'), [
    '-D',
    join(dir, 'data'),
    '-p',
    String(port),
    '-k',
    dir,
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'fsync=off',
    '-c',
    'log_statement=all',
    '-c',
    'logging_collector=off',
  ]);
  const child = spawn(start.head, start.rest, { stdio: ['ignore', 'ignore', 'pipe'] });
  const logged: string[] = [];
  child.stderr.on('data', (b: Buffer) => logged.push(b.toString()));
  const url = `postgres://${ADMIN}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
  const stop = async () => {
    if (child.exitCode === null) {
      const exited = new Promise((done) => child.once('exit', done));
      // runuser does not pass signals on: the postmaster itself gets SIGINT (fast shutdown).
      try {
        const pid = Number(
          readFileSync(join(dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0],
        );
        if (pid > 0) process.kill(pid, 'SIGINT');
      } catch {
        child.kill('SIGINT');
      }
      await exited;
    }
    writeFileSync(logFile, logged.join(''));
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; ; i++) {
    const c = new pg.Client({ connectionString: url });
    try {
      await c.connect();
      await c.end();
      break;
    } catch (e) {
      await c.end().catch(() => undefined);
      if (i > 100 || child.exitCode !== null) {
        await stop();
        throw new Error(`the scratch PostgreSQL server did not start: ${(e as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return { url, host: '127.0.0.1', port, log: () => logged.join(''), stop };
}
