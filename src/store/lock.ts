import { closeSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { StoreLockedError } from '../core/errors.js';

interface Holder {
  pid: number;
  host: string;
  command: string;
  since: string;
}

/** A lock file caught between creation and its first write is young and empty: not stale. */
const PARTIAL_GRACE_MS = 10_000;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readHolder(path: string): Holder | 'partial' | undefined {
  try {
    const text = readFileSync(path, 'utf8');
    if (text === '')
      return statSync(path).mtimeMs > Date.now() - PARTIAL_GRACE_MS ? 'partial' : undefined;
    return JSON.parse(text) as Holder;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return 'partial';
  }
}

/**
 * PGlite does not lock its data directory, and two writers silently lose data, so the embedded
 * store holds this lock for as long as it is open. A lock left by a dead process on this host is
 * taken over; a live holder is named in the error. Two processes taking over the same stale lock
 * at the same instant could both succeed; that needs a crash and a simultaneous double start.
 */
export function acquireLock(dir: string, command: string): () => void {
  const path = join(dir, 'gatehouse.lock');
  const me: Holder = {
    pid: process.pid,
    host: hostname(),
    command,
    since: new Date().toISOString(),
  };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, JSON.stringify(me));
      closeSync(fd);
      const release = () => {
        process.removeListener('exit', release);
        const holder = readHolder(path);
        // Only our own lock is removed: a stale-lock takeover may have replaced it.
        if (holder && holder !== 'partial' && holder.pid === me.pid && holder.host === me.host) {
          try {
            unlinkSync(path);
          } catch {
            /* already gone */
          }
        }
      };
      process.on('exit', release);
      return release;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const holder = readHolder(path);
      if (holder === 'partial') {
        throw new StoreLockedError(`store ${dir} is being opened by another process; try again`);
      }
      if (holder && (holder.host !== me.host || alive(holder.pid))) {
        throw new StoreLockedError(
          `store ${dir} is in use by process ${holder.pid} on ${holder.host} ("${holder.command}", since ${holder.since}); stop it or use DATABASE_URL for a shared server`,
        );
      }
      try {
        unlinkSync(path);
      } catch {
        /* another process took it over first; the next attempt finds out who */
      }
    }
  }
  throw new StoreLockedError(
    `store ${dir} is locked (${path}); remove the file if no Gatehouse process is running`,
  );
}
