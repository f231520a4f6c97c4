import { createHash } from 'node:crypto';
import { type Sql, prepared } from '../sql.js';
import type { AuditAction } from './actions.js';

export interface AuditInput {
  actor: string;
  action: AuditAction;
  subject: string;
  details?: Record<string, unknown>;
  /** Request and grant ids this event concerns, beyond the subject. */
  refs?: string[];
}

export interface AuditEvent {
  seq: number;
  at: string;
  actor: string;
  action: string;
  subject: string;
  details: Record<string, unknown>;
  refs: string[];
  prev_hash: string;
  hash: string;
}

/** Canonical JSON: keys sorted at every depth, so the hash does not depend on jsonb's key order. */
export function canonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
}

export function eventHash(e: Omit<AuditEvent, 'hash'>): string {
  const body = canonical({
    seq: e.seq,
    at: e.at,
    actor: e.actor,
    action: e.action,
    subject: e.subject,
    details: e.details,
    refs: e.refs,
  });
  return createHash('sha256').update(e.prev_hash).update('\n').update(body).digest('hex');
}

/** One event to append with appendAuditMany; `at` overrides the batch's time for this event. */
export interface AuditBatchInput extends AuditInput {
  at?: Date;
}

const INSERT_ONE = `INSERT INTO audit_events (seq, at, actor, action, subject, details, refs, prev_hash, hash)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`;

function nextEvent(prev: { seq: number; hash: string }, at: Date, input: AuditInput): AuditEvent {
  const partial = {
    seq: prev.seq + 1,
    at: at.toISOString(),
    actor: input.actor,
    action: input.action,
    subject: input.subject,
    details: JSON.parse(JSON.stringify(input.details ?? {})) as Record<string, unknown>,
    refs: [...new Set([input.subject, ...(input.refs ?? [])])],
    prev_hash: prev.hash,
  };
  return { ...partial, hash: eventHash(partial) };
}

const LOCK_HEAD = prepared('SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE');

async function lockHead(tx: Sql): Promise<{ seq: number; hash: string }> {
  const [head] = await tx.query<{ seq: number | string; hash: string }>(LOCK_HEAD);
  if (!head) throw new Error('audit_head row missing: the store was not migrated');
  return { seq: Number(head.seq), hash: head.hash };
}

/**
 * Appends one event inside the caller's transaction. Updating the single head row takes a row
 * lock until commit, so concurrent writers queue and the chain never forks.
 */
export async function appendAudit(tx: Sql, at: Date, input: AuditInput): Promise<AuditEvent> {
  // Inside an auditedTransaction, events recorded before this one go first, so the chain keeps
  // the order in which the use case said them.
  await flushDeferred(tx);
  const event = nextEvent(await lockHead(tx), at, input);
  await tx.query(INSERT_ONE, [
    event.seq,
    event.at,
    event.actor,
    event.action,
    event.subject,
    JSON.stringify(event.details),
    event.refs,
    event.prev_hash,
    event.hash,
  ]);
  await tx.query('UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1', [event.seq, event.hash]);
  return event;
}

/** Rows per INSERT: bounded so that a batch's parameter arrays stay small. */
const MANY_CHUNK = 1000;

/**
 * Appends events in order, as appendAudit would one by one, in two statements per thousand events
 * instead of three per event: the head is locked once, the chain is computed here, and the rows go
 * in with one INSERT … SELECT FROM unnest that also moves the head. The chain is appendAudit's.
 */
export async function appendAuditMany(
  tx: Sql,
  at: Date,
  inputs: readonly AuditBatchInput[],
): Promise<AuditEvent[]> {
  await flushDeferred(tx);
  return appendChunks(tx, at, inputs);
}

const INSERT_MANY = `INSERT INTO audit_events (seq, at, actor, action, subject, details, refs, prev_hash, hash)
       SELECT x.seq, x.at, x.actor, x.action, x.subject, x.details,
              ARRAY(SELECT jsonb_array_elements_text(x.refs)), x.prev_hash, x.hash
         FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::text[],
                     $6::jsonb[], $7::jsonb[], $8::text[], $9::text[])
           AS x(seq, at, actor, action, subject, details, refs, prev_hash, hash)
        ORDER BY x.seq`;

// The rows and the head's move in one statement: referencing the insert's count makes it run
// first, so the head's forward-only trigger (migrations 004, 008) finds the events it checks.
const INSERT_MANY_AND_MOVE_HEAD = prepared(`WITH ins AS (${INSERT_MANY} RETURNING 1)
UPDATE audit_head SET seq = $10, hash = $11 WHERE id = 1 AND (SELECT count(*) FROM ins) = $12`);

async function appendChunks(
  tx: Sql,
  at: Date,
  inputs: readonly AuditBatchInput[],
): Promise<AuditEvent[]> {
  if (inputs.length === 0) return [];
  let prev = await lockHead(tx);
  const events = inputs.map((input) => {
    const e = nextEvent(prev, input.at ?? at, input);
    prev = e;
    return e;
  });
  for (let i = 0; i < events.length; i += MANY_CHUNK) {
    const chunk = events.slice(i, i + MANY_CHUNK);
    const last = chunk[chunk.length - 1]!;
    // refs is text[] per row: unnest cannot take an array of arrays, so each row's refs travel
    // as a JSON array and are unpacked per row.
    await tx.query(INSERT_MANY_AND_MOVE_HEAD, [
      chunk.map((e) => e.seq),
      chunk.map((e) => e.at),
      chunk.map((e) => e.actor),
      chunk.map((e) => e.action),
      chunk.map((e) => e.subject),
      chunk.map((e) => JSON.stringify(e.details)),
      chunk.map((e) => JSON.stringify(e.refs)),
      chunk.map((e) => e.prev_hash),
      chunk.map((e) => e.hash),
      last.seq,
      last.hash,
      chunk.length,
    ]);
  }
  return events;
}

/** Events recorded in an auditedTransaction, not yet appended; keyed by the transaction's Sql. */
const deferred = new WeakMap<Sql, AuditBatchInput[]>();

async function flushDeferred(tx: Sql): Promise<void> {
  const events = deferred.get(tx);
  if (!events || events.length === 0) return;
  await appendChunks(tx, events[0]!.at!, events.splice(0));
}

/**
 * Records an event in the caller's transaction. Inside an auditedTransaction it is appended with
 * the transaction's other events just before commit; elsewhere at once, as appendAudit.
 */
export async function recordAudit(tx: Sql, at: Date, input: AuditInput): Promise<void> {
  const events = deferred.get(tx);
  if (events) events.push({ ...input, at });
  else await appendAudit(tx, at, input);
}

/**
 * One transaction whose audit events (recordAudit) are appended together as its last statement:
 * the audit head — the one row every writer queues on — is locked for that statement and the
 * commit only, not for the whole use case. The events still commit with the change or not at all,
 * in the order they were recorded. Nested calls join the outer transaction and its flush.
 */
export async function auditedTransaction<T>(sql: Sql, fn: (tx: Sql) => Promise<T>): Promise<T> {
  return sql.transaction(async (tx) => {
    if (deferred.has(tx)) return fn(tx);
    deferred.set(tx, []);
    try {
      const result = await fn(tx);
      await flushDeferred(tx);
      return result;
    } finally {
      deferred.delete(tx);
    }
  });
}
