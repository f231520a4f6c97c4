import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
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

/** Whether a process of this host is running (EPERM: it is, under another user). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The lock file's text, or undefined when there is none. */
function readRaw(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/**
 * Who a lock file's text names. A file caught between its exclusive create and its first write is
 * empty and young: someone is taking the lock right now. An old empty file is stale.
 */
function judge(path: string, text: string): Holder | 'partial' | 'stale' {
  if (text === '') {
    try {
      return statSync(path).mtimeMs > Date.now() - PARTIAL_GRACE_MS ? 'partial' : 'stale';
    } catch {
      return 'partial';
    }
  }
  try {
    return JSON.parse(text) as Holder;
  } catch {
    return 'partial';
  }
}

function readHolder(path: string): Holder | 'partial' | undefined {
  const text = readRaw(path);
  if (text === undefined) return undefined;
  const h = judge(path, text);
  return h === 'stale' ? undefined : h;
}

function createExclusive(path: string, text: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
  return true;
}

/** Replaces path's contents in one step: a reader sees the old file or the new, never a mix. */
function replaceAtomically(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileSync(tmp, text);
  try {
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

const forget = (path: string) => rmSync(path, { force: true });

/** Tokens nest only when a taker dies mid-takeover; deeper than this is someone's broken disk. */
const MAX_DEPTH = 3;

/**
 * Makes path hold text: by exclusive create when there is no file, or by replacing the file of a
 * dead holder. Replacing is the racy part, so it needs a token first: the file
 * `<path>.takeover-<hash of the stale text>`, itself claimed the same way. Only one process can
 * hold the token for one stale text, and it replaces the lock only if the lock still holds exactly
 * that text; since every holder's text is unique, no two processes can both succeed.
 */
function claim(
  path: string,
  text: string,
  me: Holder,
  depth: number,
  live: (holder: Holder) => StoreLockedError,
  busy: () => StoreLockedError,
): void {
  for (let attempt = 0; attempt < 5; attempt++) {
    if (createExclusive(path, text)) return;
    const seen = readRaw(path);
    if (seen === undefined) continue; // released meanwhile
    const holder = judge(path, seen);
    if (holder === 'partial') throw busy();
    if (holder !== 'stale' && (holder.host !== me.host || alive(holder.pid))) throw live(holder);
    if (depth >= MAX_DEPTH) break;
    const token = `${path}.takeover-${createHash('sha256').update(seen).digest('hex').slice(0, 16)}`;
    claim(token, text, me, depth + 1, busy, busy);
    try {
      if (readRaw(path) === seen) {
        replaceAtomically(path, text);
        return;
      }
      // Someone else replaced it first: look again at who holds it now.
    } finally {
      forget(token);
    }
  }
  throw new StoreLockedError(
    `${path} is locked; remove the file if no Gatehouse process is running`,
  );
}

/**
 * PGlite does not lock its data directory, and two writers silently lose data, so the embedded
 * store holds this lock for as long as it is open. A lock left by a dead process on this host is
 * taken over; a live holder is named in the error. Taking the lock is atomic: an exclusive create,
 * or the takeover protocol of claim() for a stale lock, so two processes never both hold it.
 */
export function acquireLock(dir: string, command: string): () => void {
  const path = join(dir, 'gatehouse.lock');
  const me: Holder = {
    pid: process.pid,
    host: hostname(),
    command,
    since: new Date().toISOString(),
  };
  claim(
    path,
    JSON.stringify(me),
    me,
    0,
    (holder) =>
      new StoreLockedError(
        `store ${dir} is in use by process ${holder.pid} on ${holder.host} ("${holder.command}", since ${holder.since}); stop it or use DATABASE_URL for a shared server`,
      ),
    () => new StoreLockedError(`store ${dir} is being opened by another process; try again`),
  );
  const release = () => {
    process.removeListener('exit', release);
    const holder = readHolder(path);
    // Only our own lock is removed; a live holder's lock is never taken over, so it is still ours.
    if (holder && holder !== 'partial' && holder.pid === me.pid && holder.host === me.host) {
      forget(path);
    }
  };
  process.on('exit', release);
  return release;
}
