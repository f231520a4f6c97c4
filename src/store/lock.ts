import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { StoreLockedError } from '../core/errors.js';

interface Holder {
  pid: number;
  host: string;
  command: string;
  since: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * PGlite does not lock its data directory, and two writers silently lose data, so the embedded
 * store holds this lock for as long as it is open. A lock left by a dead process on this host is
 * taken over; a live holder is named in the error.
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
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        try {
          unlinkSync(path);
        } catch {
          /* already gone */
        }
      };
      process.once('exit', release);
      return release;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let holder: Holder | undefined;
      try {
        holder = JSON.parse(readFileSync(path, 'utf8')) as Holder;
      } catch {
        holder = undefined;
      }
      if (holder && (holder.host !== me.host || alive(holder.pid))) {
        throw new StoreLockedError(
          `store ${dir} is in use by process ${holder.pid} on ${holder.host} ("${holder.command}", since ${holder.since}); stop it or use DATABASE_URL for a shared server`,
        );
      }
      unlinkSync(path);
    }
  }
  throw new StoreLockedError(
    `store ${dir} is locked (${path}); remove the file if no Gatehouse process is running`,
  );
}
