import type { Sql } from '../sql.js';
import { one } from '../sql.js';
import { eventHash } from './chain.js';
import { AUDIT_BATCH, AUDIT_COLUMNS, type AuditRow, toEvent } from './rows.js';

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

async function checkChain(sql: Sql): Promise<ChainCheck> {
  let last = { seq: 0, hash: GENESIS };
  let events = 0;
  const bad = (first_bad: number, reason: string): ChainCheck => ({
    ok: false,
    events,
    first_bad,
    reason,
  });
  for (;;) {
    // The first page has no lower bound, so a forged row with seq <= 0 cannot hide before it.
    const rows =
      events === 0
        ? await sql.query<AuditRow>(
            `SELECT ${AUDIT_COLUMNS} FROM audit_events ORDER BY seq LIMIT $1`,
            [AUDIT_BATCH],
          )
        : await sql.query<AuditRow>(
            `SELECT ${AUDIT_COLUMNS} FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2`,
            [last.seq, AUDIT_BATCH],
          );
    for (const row of rows) {
      const e = toEvent(row);
      const expected = last.seq + 1;
      if (e.seq < expected) {
        return bad(e.seq, `event ${e.seq} is out of sequence: the log starts at 1`);
      }
      if (e.seq > expected) {
        const missing =
          e.seq === expected + 1
            ? `event ${expected} is missing`
            : `events ${expected} to ${e.seq - 1} are missing`;
        return bad(expected, missing);
      }
      if (e.prev_hash !== last.hash) {
        const reason =
          last.seq === 0
            ? `event ${e.seq} does not start the chain: prev_hash is not genesis`
            : `event ${e.seq} does not follow event ${last.seq}: prev_hash mismatch`;
        return bad(e.seq, reason);
      }
      if (eventHash(e) !== e.hash) {
        return bad(e.seq, `event ${e.seq} was altered: its hash does not match its contents`);
      }
      last = { seq: e.seq, hash: e.hash };
      events++;
    }
    if (rows.length === AUDIT_BATCH) continue;

    const head = await readHead(sql);
    const headSeq = head.seq;
    if (headSeq === last.seq) {
      if (head.hash === last.hash) return { ok: true, events, head: last };
      return bad(last.seq, `the head records a different hash for event ${last.seq}`);
    }
    if (headSeq < last.seq) {
      return bad(headSeq + 1, `the log runs to ${last.seq} but the head records ${headSeq}`);
    }
    // The head is ahead: either events committed since the last page, or the tail was cut off.
    const more = await one(sql, 'SELECT 1 FROM audit_events WHERE seq > $1 LIMIT 1', [last.seq]);
    if (more) continue;
    return bad(
      last.seq + 1,
      last.seq === 0
        ? `the log is empty but the head records ${headSeq}`
        : `the log ends at ${last.seq} but the head records ${headSeq}`,
    );
  }
}
