import { createHash } from 'node:crypto';
import { type AfterCommit, type Sql, prepared } from '../sql.js';
import type { AuditAction } from './actions.js';
import { canonicalJson } from './hash-body.js';

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

/**
 * The text an event's hash covers, less its seq: canonical() of the event's fields is
 * `head + seq + tail` (keys sorted, so seq comes after refs and before subject). A writer that
 * stages an event renders it so, before anyone knows its seq; the sequencer in the store
 * (migration 029) puts the number between the two and hashes the same bytes eventHash does.
 * The fields are JSON values (`shaped`, or a row read back), so canonicalJson renders them: the
 * same text as canonical(), in fewer allocations, on the path of every write.
 */
export function bodyParts(e: Omit<AuditEvent, 'hash' | 'seq' | 'prev_hash'>): {
  head: string;
  tail: string;
} {
  return {
    head:
      `{"action":${canonicalJson(e.action)},"actor":${canonicalJson(e.actor)},"at":${canonicalJson(e.at)},` +
      `"details":${canonicalJson(e.details)},"refs":${canonicalJson(e.refs)},"seq":`,
    tail: `,"subject":${canonicalJson(e.subject)}}`,
  };
}

/** What an event's hash covers after `prev_hash "\n"`; stored as written in audit_events.body. */
export function eventBody(e: Omit<AuditEvent, 'hash' | 'prev_hash'>): string {
  const { head, tail } = bodyParts(e);
  return `${head}${canonical(e.seq)}${tail}`;
}

export function bodyHash(prevHash: string, body: string): string {
  return createHash('sha256').update(prevHash).update('\n').update(body).digest('hex');
}

export function eventHash(e: Omit<AuditEvent, 'hash'>): string {
  return bodyHash(e.prev_hash, eventBody(e));
}

/** One event to append with appendAuditMany; `at` overrides the batch's time for this event. */
export interface AuditBatchInput extends AuditInput {
  at?: Date;
}

const INSERT_ONE = `INSERT INTO audit_events (seq, at, actor, action, subject, details, refs, prev_hash, hash, body)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`;

/** The event and the body its hash covers, which is written beside it (migration 028). */
interface Chained {
  event: AuditEvent;
  body: string;
}

/** A surrogate without its pair: JavaScript strings may hold one, UTF-8 text cannot. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * A text column's value as the store will keep it: both drivers send a lone surrogate as U+FFFD,
 * so the body says the same as the column, which the store's check insists on (migration 034);
 * a body saying `\ud800` would be refused, and a staged event with it would block the chain.
 */
const asStored = (text: string): string => text.replace(LONE_SURROGATE, '\uFFFD');

/** An input as the chain holds it, before its place: the details as they will read back from jsonb. */
function shaped(at: Date, input: AuditInput): Omit<AuditEvent, 'seq' | 'prev_hash' | 'hash'> {
  return {
    at: at.toISOString(),
    actor: asStored(input.actor),
    action: asStored(input.action),
    subject: asStored(input.subject),
    details: JSON.parse(JSON.stringify(input.details ?? {})) as Record<string, unknown>,
    refs: [...new Set([input.subject, ...(input.refs ?? [])].map(asStored))],
  };
}

function nextEvent(prev: { seq: number; hash: string }, at: Date, input: AuditInput): Chained {
  const partial = { seq: prev.seq + 1, ...shaped(at, input), prev_hash: prev.hash };
  const body = eventBody(partial);
  return { event: { ...partial, hash: bodyHash(partial.prev_hash, body) }, body };
}

const LOCK_HEAD = prepared('SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE');

async function lockHead(tx: Sql): Promise<{ seq: number; hash: string }> {
  const [head] = await tx.query<{ seq: number | string; hash: string }>(LOCK_HEAD);
  if (!head) throw new Error('audit_head row missing: the store was not migrated');
  return { seq: Number(head.seq), hash: head.hash };
}

/** Transactions that took the head (an event appended at once): the rest of their events follow. */
const holdingHead = new WeakSet<Sql>();

/**
 * Locks the head for an append at once and first chains what is staged and committed: this
 * transaction may have seen those changes, so their events go before its own.
 */
async function takeHead(tx: Sql): Promise<{ seq: number; hash: string }> {
  holdingHead.add(tx);
  for (;;) {
    const run = await sequenceOnce(tx, true);
    if (run.legacy) return chainStaged(tx, await lockHead(tx));
    if (run.chained < STAGE_PAGE) return run.head;
  }
}

/**
 * Appends one event inside the caller's transaction. Updating the single head row takes a row
 * lock until commit, so concurrent writers queue and the chain never forks.
 */
export async function appendAudit(tx: Sql, at: Date, input: AuditInput): Promise<AuditEvent> {
  // Inside an auditedTransaction, events recorded before this one go first, so the chain keeps
  // the order in which the use case said them.
  await flushDeferred(tx);
  const { event, body } = nextEvent(await takeHead(tx), at, input);
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
    body,
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
  if (inputs.length === 0) return [];
  return appendChunks(tx, await takeHead(tx), at, inputs);
}

const INSERT_MANY = `INSERT INTO audit_events (seq, at, actor, action, subject, details, refs, prev_hash, hash, stage_id, body)
       SELECT x.seq, x.at, x.actor, x.action, x.subject, x.details,
              ARRAY(SELECT jsonb_array_elements_text(x.refs)), x.prev_hash, x.hash, x.stage_id, x.body
         FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::text[],
                     $6::jsonb[], $7::jsonb[], $8::text[], $9::text[], $13::bigint[], $14::text[])
           AS x(seq, at, actor, action, subject, details, refs, prev_hash, hash, stage_id, body)
        ORDER BY x.seq`;

// The rows and the head's move in one statement: referencing the insert's count makes it run
// first, so the head's forward-only trigger (migrations 004, 008) finds the events it checks.
const INSERT_MANY_AND_MOVE_HEAD = prepared(`WITH ins AS (${INSERT_MANY} RETURNING 1)
UPDATE audit_head SET seq = $10, hash = $11 WHERE id = 1 AND (SELECT count(*) FROM ins) = $12`);

/** Chains inputs after `head`, which the caller holds; stageIds name the staged rows they came from. */
async function appendChunks(
  tx: Sql,
  head: { seq: number; hash: string },
  at: Date,
  inputs: readonly AuditBatchInput[],
  stageIds?: readonly (number | string)[],
): Promise<AuditEvent[]> {
  let prev = head;
  const chained = inputs.map((input) => {
    const c = nextEvent(prev, input.at ?? at, input);
    prev = c.event;
    return c;
  });
  const events = chained.map((c) => c.event);
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
      stageIds ? stageIds.slice(i, i + MANY_CHUNK) : chunk.map(() => null),
      chained.slice(i, i + MANY_CHUNK).map((c) => c.body),
    ]);
  }
  return events;
}

/** Staged rows chained per statement. */
const STAGE_PAGE = 1000;

const STAGED = prepared(
  `SELECT id, at, actor, action, subject, details, refs FROM audit_stage ORDER BY batch, id LIMIT ${STAGE_PAGE}`,
);
const UNSTAGE = prepared('DELETE FROM audit_stage WHERE id = ANY($1::bigint[])');

interface StagedRow {
  id: number | string;
  at: Date | string;
  actor: string;
  action: AuditAction;
  subject: string;
  details: Record<string, unknown> | string;
  refs: string[];
}

/**
 * Moves every staged row this transaction can see (committed, or its own) into the chain after
 * `head`, in (batch, id) order, and returns the new head. The caller holds the head, so no other
 * sequencer reads the same rows; the unique stage_id makes a second chaining fail regardless.
 */
async function chainStaged(
  tx: Sql,
  head: { seq: number; hash: string },
): Promise<{ seq: number; hash: string }> {
  for (;;) {
    const rows = await tx.query<StagedRow>(STAGED);
    if (rows.length === 0) return head;
    const events = await appendChunks(
      tx,
      head,
      new Date(0),
      rows.map((r) => ({
        at: new Date(r.at),
        actor: r.actor,
        action: r.action,
        subject: r.subject,
        details:
          typeof r.details === 'string'
            ? (JSON.parse(r.details) as Record<string, unknown>)
            : r.details,
        refs: r.refs,
      })),
      rows.map((r) => r.id),
    );
    await tx.query(UNSTAGE, [rows.map((r) => r.id)]);
    head = events[events.length - 1]!;
    if (rows.length < STAGE_PAGE) return head;
  }
}

const SEQUENCE = prepared(
  'SELECT chained, head_seq, head_hash, legacy FROM audit_sequence($1::int, $2::boolean)',
);

interface SequencerRun {
  chained: number;
  head: { seq: number; hash: string };
  /** It stopped at a row staged without a body (before migration 029): chainStaged takes over. */
  legacy: boolean;
  /** No run happened (a writer's run after commit that failed): nothing was chained. */
  failed: boolean;
}

/** One call of the store's sequencer (migration 029): up to STAGE_PAGE rows, holding the head. */
async function sequenceOnce(sql: Sql, durable: boolean): Promise<SequencerRun> {
  const [r] = await sql.query(SEQUENCE, [STAGE_PAGE, durable]);
  const run = sequencerRun(r);
  if (run.failed) throw new Error('audit_sequence returned nothing');
  return run;
}

/**
 * A writer's run sent with its COMMIT (migration 031): never raises, a failed run says so with
 * no head. Not durable, as a writer's run after its commit never was (see sequenceAudit).
 */
const SEQUENCE_AFTER_COMMIT = `SELECT chained, head_seq, head_hash, legacy FROM audit_sequence_quietly(${STAGE_PAGE})`;

/** A sequencer's row; `failed` when there is none or it names no head (a run that failed). */
function sequencerRun(r: Record<string, unknown> | undefined): SequencerRun {
  if (!r || r.head_seq === null || r.head_seq === undefined)
    return { chained: 0, head: { seq: 0, hash: '' }, legacy: false, failed: true };
  return {
    chained: Number(r.chained),
    head: { seq: Number(r.head_seq), hash: String(r.head_hash) },
    legacy: r.legacy === true,
    failed: false,
  };
}

/**
 * The sequencer: chains every committed staged event and returns how many it chained. Readers of
 * the chain call it first (audit verify, trace, export, checkpoints), so an event whose change has
 * committed is never invisible to them. Sequencers on other connections or nodes queue on the head
 * and each finds what the one before left. Each page is one statement in a transaction of its own
 * (the store's audit_sequence), so a caller pays one round trip, not a transaction of six.
 *
 * A writer's run (`durable` false) commits without waiting for the WAL flush: losing it in a crash
 * loses nothing — its chaining and its deletions from the stage vanish together, the events are
 * staged again and the next run chains them. A reader's run commits durably, and a durable commit
 * flushes everything written before it, so a head a reader shows or signs survives a crash.
 */
export async function sequenceAudit(sql: Sql, durable = true): Promise<number> {
  let total = 0;
  for (;;) {
    const run = await sequenceOnce(sql, durable);
    total += run.chained;
    if (run.legacy) {
      return (
        total +
        (await sql.transaction(async (tx) => {
          const head = await lockHead(tx);
          return (await chainStaged(tx, head)).seq - head.seq;
        }))
      );
    }
    if (run.chained < STAGE_PAGE) return total;
  }
}

/** Per store handle: the sequencer run under way, and the one queued to start after it. */
interface SequencerState {
  running?: Promise<void> | undefined;
  queued?: Promise<void> | undefined;
}
const sequencers = new WeakMap<Sql, SequencerState>();

/**
 * Resolves once a sequencer run that began after this call has finished, so the caller's committed
 * events are in the chain. Callers that arrive while a run is under way share the next one: under
 * load one run chains many transactions' events (a group commit for the chain). A failed run is
 * not the caller's failure — its change committed and its events wait, staged, for the next run.
 */
function sequenced(sql: Sql): Promise<void> {
  let s = sequencers.get(sql);
  if (!s) sequencers.set(sql, (s = {}));
  const state = s;
  if (state.queued) return state.queued;
  let finished!: () => void;
  const run = new Promise<void>((resolve) => (finished = resolve));
  void (async () => {
    await state.running;
    // Began after the caller's commit: from here on, new callers wait for the run after this one.
    state.queued = undefined;
    state.running = run;
    try {
      await sequenceAudit(sql, false);
    } catch {
      // Left staged: the next run, or the next reader, chains it.
    } finally {
      if (state.running === run) state.running = undefined;
      finished();
    }
  })();
  state.queued = run;
  return run;
}

/** Events recorded in an auditedTransaction, not yet appended; keyed by the transaction's Sql. */
const deferred = new WeakMap<Sql, AuditBatchInput[]>();

/** Appends what the transaction recorded so far straight into the chain (holding the head). */
async function flushDeferred(tx: Sql): Promise<void> {
  const events = deferred.get(tx);
  if (!events || events.length === 0) return;
  const batch = events.splice(0);
  await appendChunks(tx, await takeHead(tx), batch[0]!.at!, batch);
}

/**
 * The staging of a batch as a statement's CTEs, its eight arrays from `$first`, inserting only
 * `when` holds: STAGE_MANY alone, or the end of a use case's last write (stagingParams). One batch
 * value for the whole statement (the CTE runs once): the transaction's place in line.
 */
export function stagingCtes(first: number, when = 'true'): string {
  const p = (i: number) => `$${first + i}`;
  return `audit_batch AS (SELECT nextval('audit_stage_batch') AS batch),
audit_staged AS (
  INSERT INTO audit_stage (batch, at, actor, action, subject, details, refs, body_head, body_tail)
  SELECT b.batch, x.at, x.actor, x.action, x.subject, x.details, ARRAY(SELECT jsonb_array_elements_text(x.refs)),
         x.body_head, x.body_tail
    FROM audit_batch b, unnest(${p(0)}::timestamptz[], ${p(1)}::text[], ${p(2)}::text[], ${p(3)}::text[],
                               ${p(4)}::jsonb[], ${p(5)}::jsonb[], ${p(6)}::text[], ${p(7)}::text[])
           WITH ORDINALITY AS x(at, actor, action, subject, details, refs, body_head, body_tail, n)
   WHERE ${when}
   ORDER BY x.n
  RETURNING 1)`;
}

const STAGE_MANY = prepared(`WITH ${stagingCtes(1)} SELECT count(*) FROM audit_staged`);

/** A batch as stagingCtes' eight arrays. */
function stagingArrays(inputs: readonly AuditBatchInput[]): unknown[] {
  const batch = inputs.map((e) => {
    const event = shaped(e.at!, e);
    return { event, body: bodyParts(event) };
  });
  return [
    batch.map((b) => b.event.at),
    batch.map((b) => b.event.actor),
    batch.map((b) => b.event.action),
    batch.map((b) => b.event.subject),
    batch.map((b) => JSON.stringify(b.event.details)),
    batch.map((b) => JSON.stringify(b.event.refs)),
    batch.map((b) => b.body.head),
    batch.map((b) => b.body.tail),
  ];
}

/** auditedTransactions that stage at their end (not joined to another transaction). */
const stagingAtEnd = new WeakSet<Sql>();
/** Transactions whose last write staged their events (stagingParams). */
const stagedInStatement = new WeakSet<Sql>();

/**
 * The events of a use case whose transaction ends with one write, as that statement's staging
 * parameters (stagingCtes): one round trip fewer than staging them after it (ADR 0045). The
 * caller promises the statement is the transaction's last, so the batch is still taken after
 * everything the transaction read. Undefined where they cannot go so — outside an
 * auditedTransaction of its own, after the head was taken, or after other events were recorded
 * (those would be staged later, out of order): then record them with recordAudit as usual.
 * Call stagedByStatement once the statement has staged them.
 */
export function stagingParams(
  tx: Sql,
  at: Date,
  /** An event's own `at`, where it has one, is its time instead. */
  inputs: readonly AuditBatchInput[],
): unknown[] | undefined {
  const events = deferred.get(tx);
  if (!events || events.length > 0 || !stagingAtEnd.has(tx) || holdingHead.has(tx))
    return undefined;
  return stagingArrays(inputs.map((i) => ({ ...i, at: i.at ?? at })));
}

/** The statement given stagingParams' parameters staged them: the sequencer runs after commit. */
export function stagedByStatement(tx: Sql): void {
  stagedInStatement.add(tx);
}

/** Stages what the transaction recorded, as its last statement; true when there was any. */
async function stageDeferred(tx: Sql): Promise<boolean> {
  const events = deferred.get(tx);
  if (!events || events.length === 0) return false;
  await tx.query(STAGE_MANY, stagingArrays(events.splice(0)));
  return true;
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

/** Records events in order as recordAudit would one by one (appendAuditMany outside an auditedTransaction). */
export async function recordAuditMany(
  tx: Sql,
  at: Date,
  inputs: readonly AuditBatchInput[],
): Promise<void> {
  const events = deferred.get(tx);
  if (events) events.push(...inputs.map((input) => ({ ...input, at: input.at ?? at })));
  else await appendAuditMany(tx, at, inputs);
}

/**
 * One transaction whose audit events (recordAudit) are staged together as its last statement and
 * chained by the sequencer once it has committed (ADR 0032): the use case never waits on the audit
 * head, the one row every chain append queues on. The events still commit with the change or not
 * at all, in the order they were recorded, and are in the chain when this returns. Nested calls
 * join the outer transaction and its flush.
 */
export async function auditedTransaction<T>(sql: Sql, fn: (tx: Sql) => Promise<T>): Promise<T> {
  let staged = false;
  // The run that follows the commit, sent with it where the driver can (ADR 0047).
  let ran: SequencerRun | undefined;
  const after = (): AfterCommit | undefined =>
    staged
      ? {
          text: SEQUENCE_AFTER_COMMIT,
          took: (rows) => {
            ran = sequencerRun(rows[0]);
          },
        }
      : undefined;
  const result = await sql.transaction(async (tx) => {
    if (deferred.has(tx)) return fn(tx);
    deferred.set(tx, []);
    if (tx !== sql) stagingAtEnd.add(tx);
    try {
      const value = await fn(tx);
      // Staging must be the transaction's last statement (see audit_stage). Joined to a plain
      // transaction that goes on after this (tx is sql), or one that already holds the head,
      // the events take their place in the chain now instead.
      if (tx === sql || holdingHead.has(tx)) await flushDeferred(tx);
      else staged = (await stageDeferred(tx)) || stagedInStatement.has(tx);
      return value;
    } finally {
      deferred.delete(tx);
    }
  }, after);
  // Not run with the commit, or it could not finish the stage (a failure, a full page, rows
  // staged before bodies): the run shared with this handle's other writers does.
  if (staged && (!ran || ran.failed || ran.legacy || ran.chained >= STAGE_PAGE))
    await sequenced(sql);
  return result;
}
