import { hash } from 'node:crypto';
import type { Sql } from '../sql.js';
import { one } from '../sql.js';
import { eventBody, eventHash, sequenceAudit } from './chain.js';
import { BODY_AFTER_DETAILS, BODY_BEFORE_DETAILS, canonicalJson } from './hash-body.js';
import { eachCopyRow } from './copy-rows.js';
import { AUDIT_COLUMNS, type AuditRow, toEvent } from './rows.js';

/** Where the chain ends: the value to keep outside Gatehouse (a checkpoint signs it). */
export interface AuditHead {
  seq: number;
  hash: string;
}

export type VerifyResult =
  /** head: the last event verified, so a value read here is one the chain vouches for. */
  | { ok: true; events: number; head: AuditHead }
  /**
   * events: how many events, from the start, were read and found intact before first_bad;
   * head: what audit_head records, for the report.
   */
  | { ok: false; events: number; first_bad: number; reason: string; head: AuditHead };

type ChainCheck =
  | { ok: true; events: number; head: AuditHead }
  | { ok: false; events: number; first_bad: number; reason: string };

/** The prev_hash of event 1: the value 001_core.sql seeds audit_head with. */
const GENESIS = 'genesis';

/**
 * Recomputes the whole chain in seq order, one keyset page at a time, and reports the first
 * broken link. Needs no snapshot: appends commit event and head together, so reading the head
 * after the events can only find it at or past the last event read.
 */
export async function verifyAudit(sql: Sql): Promise<VerifyResult> {
  // Events staged by committed changes join the chain first: verify vouches for all of them.
  await sequenceAudit(sql);
  const held = await columnsHeldToBodies(sql);
  let result = await verifyChain(sql, held);
  // Trusted at the start, the check must still stand at the end: dropped meanwhile, rows read
  // after that may have been changed unchecked, so the chain is read again, every row judged.
  if (held && !(await columnsHeldToBodies(sql))) result = await verifyChain(sql, false);
  if (result.ok) return result;
  return { ...result, head: await readHead(sql) };
}

async function verifyChain(sql: Sql, held: boolean): Promise<ChainCheck> {
  const from = sql.copyOut ? await intactPrefix(sql.copyOut, held) : START;
  return checkChain(sql, from, held);
}

async function readHead(sql: Sql): Promise<AuditHead> {
  const head = await one<{ seq: number | string; hash: string }>(
    sql,
    'SELECT seq, hash FROM audit_head WHERE id = 1',
  );
  if (!head) throw new Error('audit_head row missing: the store was not migrated');
  return { seq: Number(head.seq), hash: head.hash };
}

interface HashRow {
  seq: number | string;
  prev_hash: string;
  hash: string;
  /** The hashed bytes after `prev_hash "\n"` as written (migration 028); null before it. */
  body: string | null;
  /** `at` holds whole milliseconds, as every writer stores it. */
  whole_ms: boolean;
  /** The server's word that the columns say what the body says; null where it did not judge. */
  agrees: boolean | null;
  /** Without a body, the bytes are rebuilt as ADR 0029 does: these three parts. */
  details: Record<string, unknown> | string | null;
  before: string | null;
  after: string | null;
}

/**
 * Rows per page: small enough that a page's rows die young (a page of 5,000 outlived the young
 * generation and doubled peak RSS), large enough that round trips stay few.
 */
const VERIFY_PAGE = 1000;

/*
 * `whole_ms`: the hash covers `at` as toISOString() renders it, to the millisecond, and every
 * writer of an event with a body stores a JavaScript Date (whole milliseconds); a fraction below
 * that is an alteration the hash alone cannot see. Events written before bodies (migration 028)
 * are judged by their row as before, where the fraction is not the hash's to vouch for.
 */
const WHOLE_MS = `at = date_trunc('milliseconds', at)`;

const PAGE_COLUMNS = `seq, prev_hash, hash, body, ${WHOLE_MS} AS whole_ms,
  CASE WHEN body IS NULL THEN details END AS details,
  CASE WHEN body IS NULL THEN ${BODY_BEFORE_DETAILS} END AS before,
  CASE WHEN body IS NULL THEN ${BODY_AFTER_DETAILS} END AS after`;

/**
 * The columns against the body, on the server so that Node only hashes. `b` is the body parsed
 * once (the subquery's LIMIT keeps the planner from parsing it per use); a body that hashes
 * right is appendAudit's canonical JSON of exactly these seven fields, so comparing each field
 * compares the whole. details compare as jsonb: keys as sets, strings exactly, numbers by value.
 * `at` is rendered as toISOString() prints it; where that differs, the row judges (below).
 */
const AGREES_WITH_BODY = `b->'details' = details AND b->>'actor' = actor AND b->>'action' = action
  AND b->>'subject' = subject AND b->>'seq' = seq::text AND b->'refs' = to_jsonb(refs)
  AND b->>'at' = to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/**
 * Migration 034's check as the server prints it back (pg_get_constraintdef; the same on the
 * server and the embedded store): every event written while it stands, with an ordinary `at`,
 * has columns that agree with its body.
 */
const AGREE_CHECK =
  `CHECK ((((date_part('year'::text, (at AT TIME ZONE 'UTC'::text)) < (1)::double precision) OR ` +
  `(date_part('year'::text, (at AT TIME ZONE 'UTC'::text)) > (9999)::double precision)) OR ` +
  `((body)::jsonb = jsonb_build_object('action', action, 'actor', actor, 'at', ` +
  `to_char((at AT TIME ZONE 'UTC'::text), 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'::text), 'details', ` +
  `details, 'refs', to_jsonb(refs), 'seq', seq, 'subject', subject))))`;

/** An `at` the check judges; an event outside these years got past it unjudged, and verify judges it. */
const ORDINARY_AT = `date_part('year', at AT TIME ZONE 'UTC') BETWEEN 1 AND 9999`;

/**
 * Whether the store itself holds every event's columns to its body (ADR 0052): the check of
 * migration 034 stands on audit_events, validated (so every row was checked, the old ones when it
 * was validated), printed back exactly as written, and made only of the server's built-in
 * functions and operators (a dependency on any other would be recorded in pg_depend; built-ins
 * are pinned and never are). The table owner can drop it; a check added again is unvalidated or
 * refuses the rows that disagree. Where anything here fails, verify judges every row's columns.
 */
export async function columnsHeldToBodies(sql: Sql): Promise<boolean> {
  const row = await one<{ held: boolean }>(
    sql,
    `SELECT c.convalidated AND pg_get_constraintdef(c.oid) = $1 AND NOT EXISTS (
              SELECT 1 FROM pg_depend d
               WHERE d.classid = 'pg_constraint'::regclass AND d.objid = c.oid
                 AND d.refclassid <> 'pg_class'::regclass) AS held
       FROM pg_constraint c
      WHERE c.conrelid = 'audit_events'::regclass AND c.conname = 'audit_events_agree'`,
    [AGREE_CHECK],
  );
  return row?.held === true;
}

/** The per-row judgement of agreement: the server's comparison, or only `at` where the check held. */
const agreement = (held: boolean) => (held ? ORDINARY_AT : AGREES_WITH_BODY);
const parsedBody = (held: boolean) => (held ? 'NULL::jsonb' : 'body::jsonb');

/** Pages asked for at once: one being hashed here, the others rendered meanwhile. */
const READ_AHEAD = 3;

/**
 * `columns` of the events with seq in (after, upTo], `b` the body as `parsed`; the first range
 * has no lower bound, so a forged seq <= 0 cannot hide (its first row is reported). The LIMIT,
 * never reached otherwise, keeps the planner on the index where a table without statistics
 * looks like a scan's worth (5M events loaded in bulk: a parallel scan per page). The two seqs
 * come rendered: parameters for a query, literals for a COPY, which takes none.
 */
function eventRange(
  columns: string,
  parsed: string,
  [after, upTo]: [string | undefined, string],
  limit: number,
): string {
  const where = after === undefined ? `seq <= ${upTo}` : `seq > ${after} AND seq <= ${upTo}`;
  return `SELECT ${columns}
    FROM (SELECT seq, at, actor, action, subject, details, refs, prev_hash, hash, body,
                 ${parsed} AS b
            FROM audit_events WHERE ${where} ORDER BY seq LIMIT ${limit}) e
   ORDER BY seq`;
}

function pageQuery(
  parsed: string,
  agrees: string,
  after: number | undefined,
  upTo: number,
): [string, unknown[]] {
  const columns = `${PAGE_COLUMNS}, ${agrees} AS agrees`;
  return after === undefined
    ? [eventRange(columns, parsed, [undefined, '$1'], VERIFY_PAGE), [upTo]]
    : [eventRange(columns, parsed, ['$1', '$2'], VERIFY_PAGE), [after, upTo]];
}

/**
 * A page, the columns judged against the body by the server (or, where the store holds them to
 * it, only whether `at` is one the store's check covers). A body the server cannot read as
 * JSON (only an altered one) fails the page's query: the page is read again unjudged, and each
 * of its events is judged by its row (rowGivesBody) — slowly, but only in an altered log.
 * Exported for body.test.ts, which checks which events the server vouches for.
 */
export function readPage(
  sql: Sql,
  after: number | undefined,
  upTo: number,
  held = false,
): Promise<HashRow[]> {
  const agrees = agreement(held);
  const page = sql
    .query<HashRow>(...pageQuery(parsedBody(held), agrees, after, upTo))
    .catch(() => sql.query<HashRow>(...pageQuery('NULL::jsonb', agrees, after, upTo)));
  // Read ahead while the page before is checked: a failure is thrown where it is awaited.
  page.catch(() => undefined);
  return page;
}

/** The event as eventHash sees it, recomputed from its row: the judge when the fast bytes differ. */
async function rowHashMatches(sql: Sql, seq: number): Promise<boolean> {
  const row = await one<AuditRow>(sql, `SELECT ${AUDIT_COLUMNS} FROM audit_events WHERE seq = $1`, [
    seq,
  ]);
  if (!row) return false;
  const e = toEvent(row);
  return eventHash(e) === e.hash;
}

/**
 * The judge when the server did not agree: the row gives exactly `body` as appendAudit built it
 * (so only a rendering differed, of `at` say), and its details equal the body's as jsonb, which
 * tells apart numbers JSON.parse reads as one.
 */
async function rowGivesBody(sql: Sql, seq: number, body: string): Promise<boolean> {
  const row = await one<AuditRow>(sql, `SELECT ${AUDIT_COLUMNS} FROM audit_events WHERE seq = $1`, [
    seq,
  ]);
  if (row === undefined || eventBody(toEvent(row)) !== body) return false;
  const same = await one<{ same: boolean }>(
    sql,
    `SELECT (body::jsonb -> 'details') = details AS same FROM audit_events WHERE seq = $1`,
    [seq],
  );
  return same?.same === true;
}

/** How far the chain has been found intact: the last event verified and how many before it. */
interface Verified {
  lastSeq: number;
  lastHash: string;
  events: number;
  /** Seen an event with a body: every later one has one too (migration 028's check). */
  bodies: boolean;
}

const START: Verified = { lastSeq: 0, lastHash: GENESIS, events: 0, bodies: false };

/** Events per binary COPY: three ranges in flight hold about 15 MB (~500 bytes an event). */
const COPY_RANGE = 10_000;

/**
 * A range of events for intactPrefix: seq, hash, prev_hash, the body, and whether the server
 * found the row's columns agreeing with its body at whole milliseconds (false where it has no
 * body); where the store holds columns to bodies (`held`), agreement is its check's, and only
 * `at` is looked at. A body that is not JSON fails the statement, and the prefix ends there.
 */
function copyRange(after: number | undefined, upTo: number, held: boolean): string {
  return eventRange(
    `seq, hash, prev_hash, body, COALESCE(${WHOLE_MS} AND ${agreement(held)}, false) AS ok`,
    parsedBody(held),
    [after === undefined ? undefined : String(after), String(upTo)],
    COPY_RANGE,
  );
}

/** A SHA-256 in hex: what `hash` holds for every event. */
const HEX_HASH = 64;
const NEWLINE = 0x0a;

/**
 * The chain from its start by binary COPY, for a driver that has it (ADR 0049): several ranges
 * rendered by the server at once while this process hashes, the bytes hashed where they arrived.
 * It vouches only for events that are plainly intact — next in sequence, linked to the one
 * before, with a body that hashes to their hash and columns the server found agreeing with it —
 * and stops at the first that is not, at a range that fails or comes back short, or at the end.
 * checkChain goes on from there and judges whatever stopped it as it judges every event.
 *
 * The hashed bytes are built in one buffer that outlives the rows (the last hash, a newline, the
 * body copied in), and hashes are compared as bytes there: a row costs one view and one digest
 * string, not the strings and views that made a quarter of this loop's time collecting garbage.
 */
async function intactPrefix(
  copyOut: (query: string) => Promise<Buffer[]>,
  held: boolean,
): Promise<Verified> {
  let { lastSeq, lastHash, events } = START;
  // [0, linked): the hash the next event must name as prev_hash; then a newline and its body.
  let hashed = Buffer.alloc(4096);
  let linked = hashed.write(lastHash, 'latin1');
  hashed[linked] = NEWLINE;
  let base: number | undefined;
  const inFlight: { upTo: number; chunks: Promise<Buffer[]> }[] = [];
  const ask = () => {
    const from = base;
    base = (from ?? 0) + COPY_RANGE;
    const chunks = copyOut(copyRange(from, base, held));
    chunks.catch(() => undefined);
    inFlight.push({ upTo: base, chunks });
  };
  const intact = (buf: Buffer, f: Int32Array, count: number): boolean => {
    if (count !== 5 || f[1] !== 8 || f[3] !== HEX_HASH || f[5] !== linked) return false;
    if (f[7]! < 0 || f[9] !== 1 || buf[f[8]!] !== 1) return false;
    // An int8 read as two halves: exact below 2^53, and no BigInt per row.
    const seq = buf.readInt32BE(f[0]!) * 0x1_0000_0000 + buf.readUInt32BE(f[0]! + 4);
    if (seq !== lastSeq + 1) return false;
    if (buf.compare(hashed, 0, linked, f[4], f[4]! + linked) !== 0) return false;
    const size = linked + 1 + f[7]!;
    if (hashed.length < size) {
      const bigger = Buffer.alloc(Math.max(size, hashed.length * 2));
      hashed.copy(bigger, 0, 0, linked + 1);
      hashed = bigger;
    }
    buf.copy(hashed, linked + 1, f[6], f[6]! + f[7]!);
    const digest = hash('sha256', hashed.subarray(0, size));
    // The digest becomes the next event's prefix; the row's hash must be these very bytes.
    linked = hashed.write(digest, 0, 'latin1');
    hashed[linked] = NEWLINE;
    if (buf.compare(hashed, 0, linked, f[2], f[2]! + f[3]!) !== 0) return false;
    lastSeq = seq;
    lastHash = digest;
    events++;
    return true;
  };
  try {
    for (;;) {
      while (inFlight.length < READ_AHEAD) ask();
      const range = inFlight.shift()!;
      const chunks = await range.chunks.catch(() => undefined);
      if (!chunks || !eachCopyRow(chunks, intact) || lastSeq !== range.upTo) break;
    }
  } finally {
    await Promise.allSettled(inFlight.map((r) => r.chunks));
  }
  return { lastSeq, lastHash, events, bodies: events > 0 };
}

async function checkChain(sql: Sql, from: Verified, held: boolean): Promise<ChainCheck> {
  let { lastSeq, lastHash, events, bodies } = from;
  const bad = (first_bad: number, reason: string): ChainCheck => ({
    ok: false,
    events,
    first_bad,
    reason,
  });
  // Pages are seq ranges, not keyset pages, so several can be asked for before the first
  // arrives: on a server each is rendered by its own backend while this one is hashed here.
  let base: number | undefined = lastSeq > 0 ? lastSeq : undefined;
  let inFlight: Promise<HashRow[]>[] = [];
  const ask = () => {
    const from = base;
    base = (from ?? 0) + VERIFY_PAGE;
    inFlight.push(readPage(sql, from, base, held));
  };
  for (;;) {
    while (inFlight.length < READ_AHEAD) ask();
    const upTo = base! - (inFlight.length - 1) * VERIFY_PAGE;
    const rows = await inFlight.shift()!;
    ask();
    const broken = await checkPage(rows);
    if (broken) {
      await Promise.allSettled(inFlight);
      return broken;
    }
    if (lastSeq === upTo) continue;

    // A short page: the end, or a gap. Pages asked for beyond it may predate later appends.
    await Promise.allSettled(inFlight);
    inFlight = [];
    // The head first: appends commit event and head together, so every event it covers is
    // visible to the query after it.
    const head = await readHead(sql);
    const next = await one<{ seq: number | string | null }>(
      sql,
      'SELECT min(seq) AS seq FROM audit_events WHERE seq > $1',
      [lastSeq],
    );
    if (next?.seq != null) {
      // Read on from the next event there is; one past lastSeq + 1 is reported missing.
      base = Number(next.seq) - 1;
      continue;
    }
    const headSeq = head.seq;
    if (headSeq === lastSeq) {
      if (head.hash === lastHash)
        return { ok: true, events, head: { seq: lastSeq, hash: lastHash } };
      return bad(lastSeq, `the head records a different hash for event ${lastSeq}`);
    }
    if (headSeq < lastSeq) {
      return bad(headSeq + 1, `the log runs to ${lastSeq} but the head records ${headSeq}`);
    }
    return bad(
      lastSeq + 1,
      lastSeq === 0
        ? `the log is empty but the head records ${headSeq}`
        : `the log ends at ${lastSeq} but the head records ${headSeq}`,
    );
  }

  async function checkPage(rows: HashRow[]): Promise<ChainCheck | undefined> {
    for (const row of rows) {
      const seq = Number(row.seq);
      const expected = lastSeq + 1;
      if (seq < expected) {
        return bad(seq, `event ${seq} is out of sequence: the log starts at 1`);
      }
      if (seq > expected) {
        const missing =
          seq === expected + 1
            ? `event ${expected} is missing`
            : `events ${expected} to ${seq - 1} are missing`;
        return bad(expected, missing);
      }
      if (row.prev_hash !== lastHash) {
        const reason =
          lastSeq === 0
            ? `event ${seq} does not start the chain: prev_hash is not genesis`
            : `event ${seq} does not follow event ${lastSeq}: prev_hash mismatch`;
        return bad(seq, reason);
      }
      const altered = `event ${seq} was altered: its hash does not match its contents`;
      if (row.body !== null) {
        bodies = true;
        // The body is the hashed bytes themselves: no rendering can differ, no row can excuse it.
        if (hash('sha256', `${lastHash}\n${row.body}`) !== row.hash) return bad(seq, altered);
        if (row.agrees !== true && !(await rowGivesBody(sql, seq, row.body))) {
          return bad(seq, altered);
        }
        if (!row.whole_ms) return bad(seq, altered);
      } else {
        if (bodies) return bad(seq, `event ${seq} was altered: its hashed body is missing`);
        // As toEvent reads it: a driver that hands jsonb over as text gets it parsed here.
        const details =
          typeof row.details === 'string' ? (JSON.parse(row.details) as unknown) : row.details;
        const bytes = `${lastHash}\n${row.before}${canonicalJson(details)}${row.after}`;
        if (hash('sha256', bytes) !== row.hash && !(await rowHashMatches(sql, seq))) {
          return bad(seq, altered);
        }
      }
      lastSeq = seq;
      lastHash = row.hash;
      events++;
    }
    return undefined;
  }
}
