import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { alive } from '../store/lock.js';
import type { Io } from './command.js';
import type { CliEnv } from './context.js';
import { dataDir } from './data-dir.js';

/**
 * The local command channel (ADR 0022): `serve` on an embedded store leaves its address and a
 * secret of its own in the data directory, readable by its owner only, and a command that finds
 * the store held is sent there instead of failing.
 */
const FILE = 'serve.json';

interface ChannelFile {
  url: string;
  secret: string;
  pid: number;
}

export function newChannelSecret(): string {
  return randomBytes(32).toString('base64url');
}

export function writeChannelFile(dir: string, url: string, secret: string): void {
  const body: ChannelFile = { url, secret, pid: process.pid };
  writeFileSync(join(dir, FILE), JSON.stringify(body), { mode: 0o600 });
}

/** Removes the file only if it is still this process's (a later `serve` may have replaced it). */
export function removeChannelFile(dir: string): void {
  const mine = readChannel(dir);
  if (mine?.pid === process.pid) rmSync(join(dir, FILE), { force: true });
}

function readChannel(dir: string): ChannelFile | undefined {
  try {
    const f = JSON.parse(readFileSync(join(dir, FILE), 'utf8')) as Partial<ChannelFile>;
    if (typeof f.url === 'string' && typeof f.secret === 'string' && typeof f.pid === 'number')
      return f as ChannelFile;
  } catch {
    // no channel: the store is held by something other than a serve, or one that has stopped
  }
  return undefined;
}

/** Whether a live `serve` holds the embedded store in this data directory (the command goes there). */
export function serveHolds(env: CliEnv, data: string | undefined): boolean {
  const channel = readChannel(dataDir(env, data));
  return channel !== undefined && alive(channel.pid);
}

/**
 * Sends the command to the `serve` holding the store and prints what it printed. Undefined when
 * there is no live server to send it to, so the caller reports the lock as before.
 */
export async function forward(
  env: CliEnv,
  data: string | undefined,
  argv: string[],
  io: Io,
): Promise<number | undefined> {
  const channel = readChannel(dataDir(env, data));
  if (!channel || !alive(channel.pid)) return undefined;
  let res: Response;
  try {
    res = await fetch(`${channel.url}/api/v1/cli`, {
      method: 'POST',
      headers: { authorization: `Bearer ${channel.secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ argv, cwd: env.cwd }),
    });
  } catch {
    return undefined;
  }
  if (!res.ok) return undefined;
  const out = (await res.json()) as { exit_code: number; stdout: string[]; stderr: string[] };
  for (const line of out.stdout) io.stdout(line);
  for (const line of out.stderr) io.stderr(line);
  return out.exit_code;
}
