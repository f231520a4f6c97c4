import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testStore, type TestStore } from '../../store/test-store.js';
import type { Sql } from '../sql.js';
import {
  appendAudit,
  appendAuditMany,
  auditedTransaction,
  bodyParts,
  canonical,
  eventHash,
  recordAudit,
} from './chain.js';
import { BODY_AFTER_DETAILS, BODY_BEFORE_DETAILS, canonicalJson } from './hash-body.js';
import { AUDIT_COLUMNS, type AuditRow, toEvent } from './rows.js';
import { verifyAudit } from './verify.js';

async function withStore(fn: (s: TestStore) => Promise<void>): Promise<void> {
  const store = await testStore();
  try {
    await fn(store);
  } finally {
    await store.close();
  }
}

/** Strings JSON escapes, or could be expected to: quotes, controls, non-ASCII, separators. */
const HOSTILE = [
  'plain',
  'quote " and backslash \\ and slash /',
  'controls \b\f\n\r\t \u0001 \u001f \u007f',
  'accents é ü, CJK 門, emoji 😀, separators \u2028 \u2029',
  '</script><!-- ${x} %s',
  '',
];

const at0 = Date.parse('2026-03-01T09:00:00.000Z');

test('PostgreSQL renders the fixed fields of an event exactly as canonical() does', async () => {
  await withStore(async ({ sql }) => {
    for (const [i, s] of HOSTILE.entries()) {
      await sql.transaction((tx) =>
        appendAudit(tx, new Date(at0 + i * 1001), {
          actor: s,
          action: 'config.applied',
          subject: `subject ${s}`,
          refs: [s, `ref ${i}`],
          details: { [s]: s, z: [s, { b: 1, a: [null, true, -0.5, 1e21, 1e-7] }], 10: 1, 9: 2 },
        }),
      );
    }
    const rows = await sql.query<{ before: string; details: unknown; after: string } & AuditRow>(
      `SELECT ${AUDIT_COLUMNS}, ${BODY_BEFORE_DETAILS} AS before, ${BODY_AFTER_DETAILS} AS after
         FROM audit_events ORDER BY seq`,
    );
    assert.equal(rows.length, HOSTILE.length);
    for (const row of rows) {
      const e = toEvent(row);
      const { hash: _h, prev_hash: _p, ...body } = e;
      assert.equal(row.before + canonicalJson(e.details) + row.after, canonical(body));
    }
  });
});

test('canonicalJson gives canonical() for any value JSON.parse returns', () => {
  let seed = 7;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const keys = ['a', 'B', 'aa', '10', '9', 'é', '😀', 'ｚ', '__proto__', ''];
  const value = (depth: number): unknown => {
    switch (rand(depth > 3 ? 4 : 6)) {
      case 0:
        return null;
      case 1:
        return rand(2) === 0;
      case 2:
        return [0, -1, 1.5, 1e21, 2 ** 53 + 2, 5e-324][rand(6)];
      case 3:
        return HOSTILE[rand(HOSTILE.length)];
      case 4:
        return Array.from({ length: rand(4) }, () => value(depth + 1));
      default:
        return Object.fromEntries(
          Array.from({ length: rand(5) }, () => [keys[rand(keys.length)], value(depth + 1)]),
        );
    }
  };
  for (let i = 0; i < 2000; i++) {
    const parsed = JSON.parse(JSON.stringify(value(0))) as unknown;
    assert.equal(canonicalJson(parsed), canonical(parsed));
  }
});

/**
 * As the table owner would write it, with the append-only triggers off for the statement and the
 * check that holds columns to bodies (migration 034) dropped.
 */
async function asTableOwner(sql: Sql, text: string, params: unknown[]): Promise<void> {
  await sql.transaction(async (tx) => {
    for (const t of ['audit_events', 'audit_head']) {
      await tx.query(`ALTER TABLE ${t} DISABLE TRIGGER USER`);
    }
    await tx.query('ALTER TABLE audit_events DROP CONSTRAINT IF EXISTS audit_events_agree');
    await tx.query(text, params);
    for (const t of ['audit_events', 'audit_head']) {
      await tx.query(`ALTER TABLE ${t} ENABLE TRIGGER USER`);
    }
  });
}

test('an event without a body whose time PostgreSQL prints differently is judged by its row, as before', async () => {
  await withStore(async ({ sql }) => {
    // Microseconds: appendAudit never writes them, but an event hashed as eventHash reads its
    // row back (toEvent) is intact, whatever the fast rendering makes of the extra digits.
    // Written before migration 028, without a body: verified from its columns.
    await asTableOwner(sql, 'ALTER TABLE audit_events DROP CONSTRAINT audit_events_body', []);
    await asTableOwner(
      sql,
      `INSERT INTO audit_events (seq, at, actor, action, subject, details, refs, prev_hash, hash)
       VALUES (1, '2026-03-01T09:00:00.123987Z', 'a', 'config.applied', 's', '{}', '{s}', 'genesis', 'x')`,
      [],
    );
    const [row] = await sql.query<AuditRow>(`SELECT ${AUDIT_COLUMNS} FROM audit_events`);
    const hash = eventHash(toEvent(row!));
    await asTableOwner(sql, `UPDATE audit_events SET hash = $1`, [hash]);
    await asTableOwner(sql, `UPDATE audit_head SET seq = 1, hash = $1`, [hash]);
    await asTableOwner(
      sql,
      'ALTER TABLE audit_events ADD CONSTRAINT audit_events_body CHECK (body IS NOT NULL) NOT VALID',
      [],
    );
    assert.deepEqual(await verifyAudit(sql), { ok: true, events: 1, head: { seq: 1, hash } });
  });
});

test('a chain of several pages verifies, and an altered event deep in it is found', async () => {
  await withStore(async ({ sql }) => {
    const inputs = Array.from({ length: 2500 }, (_, i) => ({
      actor: `person${i % 7}@acme.test`,
      action: 'config.applied' as const,
      subject: `req_${i}`,
      details: { n: i, nested: { b: [i, 'x'], a: 'y' } },
    }));
    await sql.transaction((tx) => appendAuditMany(tx, new Date(at0), inputs));
    const ok = await verifyAudit(sql);
    assert.equal(ok.ok && ok.events, 2500);
    await asTableOwner(sql, `UPDATE audit_events SET details = '{"n": 0}' WHERE seq = 1501`, []);
    const r = await verifyAudit(sql);
    assert.equal(r.ok === false && r.first_bad, 1501);
    assert.equal(
      r.ok === false && r.reason,
      'event 1501 was altered: its hash does not match its contents',
    );
    assert.equal(r.events, 1500);
  });
});

test('the store chains staged events with the bytes eventHash covers, hostile strings and all', async () => {
  await withStore(async ({ sql }) => {
    const events = HOSTILE.map((s, i) => ({
      at: new Date(at0 + i * 1001),
      actor: s,
      action: 'config.applied' as const,
      subject: `subject ${s}`,
      refs: [s, `ref ${i}`],
      details: { [s]: s, z: [s, { b: 1, a: [null, true, -0.5, 1e21, 1e-7] }], 10: 1, 9: 2 },
    }));
    // Staged by audited transactions and chained by audit_sequence (migration 029), in the store.
    for (const e of events) await auditedTransaction(sql, (tx) => recordAudit(tx, e.at, e));
    const rows = await sql.query<AuditRow>(
      `SELECT ${AUDIT_COLUMNS} FROM audit_events ORDER BY seq`,
    );
    assert.equal(rows.length, HOSTILE.length);
    for (const row of rows) {
      const e = toEvent(row);
      assert.equal(e.hash, eventHash(e), `event ${e.seq} (${JSON.stringify(e.actor)})`);
    }
    assert.deepEqual(await verifyAudit(sql), {
      ok: true,
      events: HOSTILE.length,
      head: { seq: HOSTILE.length, hash: toEvent(rows.at(-1)!).hash },
    });
  });
});

test('bodyParts around the seq are canonical() of the whole event', () => {
  for (const s of HOSTILE) {
    const e = {
      at: '2026-03-01T09:00:00.000Z',
      actor: s,
      action: s,
      subject: s,
      refs: [s],
      details: { [s]: [s, { b: 1, a: -0.5 }] },
    };
    const { head, tail } = bodyParts(e);
    assert.equal(`${head}42${tail}`, canonical({ ...e, seq: 42 }));
  }
});
