import { hash } from 'node:crypto';
import type { Sql } from '../sql.js';
import { one } from '../sql.js';
import { eventHash, sequenceAudit } from './chain.js';
import { BODY_AFTER_DETAILS, BODY_BEFORE_DETAILS, canonicalJson } from './hash-body.js';
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
  const result = await checkChain(sql);
  if (result.ok) return result;
  return { ...result, head: await readHead(sql) };
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
  details: Record<string, unknown> | string;
  before: string;
  after: string;
}

/**
 * Rows per page: small enough that a page's rows die young (a page of 5,000 outlived the young
 * generation and doubled peak RSS), large enough that round trips stay few.
 */
const VERIFY_PAGE = 1000;

const PAGE_COLUMNS = `seq, prev_hash, hash, details, ${BODY_BEFORE_DETAILS} AS before, ${BODY_AFTER_DETAILS} AS after`;

/** A keyset page after `seq`; the first has no lower bound, so a forged seq <= 0 cannot hide. */
function readPage(sql: Sql, after: number | undefined): Promise<HashRow[]> {
  return after === undefined
    ? sql.query<HashRow>(`SELECT ${PAGE_COLUMNS} FROM audit_events ORDER BY seq LIMIT $1`, [
        VERIFY_PAGE,
      ])
    : sql.query<HashRow>(
        `SELECT ${PAGE_COLUMNS} FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2`,
        [after, VERIFY_PAGE],
      );
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

async function checkChain(sql: Sql): Promise<ChainCheck> {
  let lastSeq = 0;
  let lastHash = GENESIS;
  let events = 0;
  const bad = (first_bad: number, reason: string): ChainCheck => ({
    ok: false,
    events,
    first_bad,
    reason,
  });
  let next: Promise<HashRow[]> | undefined = readPage(sql, undefined);
  for (;;) {
    const rows: HashRow[] = await (next ?? readPage(sql, lastSeq));
    // The next page is read while this one is hashed: the server renders and sends it meanwhile.
    next =
      rows.length === VERIFY_PAGE ? readPage(sql, Number(rows[rows.length - 1]!.seq)) : undefined;
    const broken = await checkPage(rows);
    if (broken) {
      await next?.catch(() => undefined);
      return broken;
    }
    if (rows.length === VERIFY_PAGE) continue;

    const head = await readHead(sql);
    const headSeq = head.seq;
    if (headSeq === lastSeq) {
      if (head.hash === lastHash)
        return { ok: true, events, head: { seq: lastSeq, hash: lastHash } };
      return bad(lastSeq, `the head records a different hash for event ${lastSeq}`);
    }
    if (headSeq < lastSeq) {
      return bad(headSeq + 1, `the log runs to ${lastSeq} but the head records ${headSeq}`);
    }
    // The head is ahead: either events committed since the last page, or the tail was cut off.
    const more = await one(sql, 'SELECT 1 FROM audit_events WHERE seq > $1 LIMIT 1', [lastSeq]);
    if (more) continue;
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
      // As toEvent reads it: a driver that hands jsonb over as text gets it parsed here.
      const details =
        typeof row.details === 'string' ? (JSON.parse(row.details) as unknown) : row.details;
      const bytes = `${lastHash}\n${row.before}${canonicalJson(details)}${row.after}`;
      if (hash('sha256', bytes) !== row.hash && !(await rowHashMatches(sql, seq))) {
        return bad(seq, `event ${seq} was altered: its hash does not match its contents`);
      }
      lastSeq = seq;
      lastHash = row.hash;
      events++;
    }
    return undefined;
  }
}
