import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Sql } from '../sql.js';
import { testStore } from '../../store/test-store.js';
import { type AuditEvent, eventBody, eventHash } from './chain.js';
import { columnsHeldToBodies, verifyAudit } from './verify.js';

const T0 = Date.parse('2026-04-01T09:00:00.000Z');
const DROP_CHECK = 'ALTER TABLE audit_events DROP CONSTRAINT IF EXISTS audit_events_agree';

async function asTableOwner(sql: Sql, ...statements: string[]): Promise<void> {
  await sql.transaction(async (tx) => {
    for (const t of ['audit_events', 'audit_head'])
      await tx.query(`ALTER TABLE ${t} DISABLE TRIGGER USER`);
    for (const text of statements) await tx.query(text);
    for (const t of ['audit_events', 'audit_head'])
      await tx.query(`ALTER TABLE ${t} ENABLE TRIGGER USER`);
  });
}

/** A valid chain of n events, written in one statement, the head moved to its end. */
async function bulkChain(sql: Sql, n: number): Promise<void> {
  const events: (AuditEvent & { body: string })[] = [];
  let prev = 'genesis';
  for (let seq = 1; seq <= n; seq++) {
    const e = {
      seq,
      at: new Date(T0 + seq * 1000).toISOString(),
      actor: `p${seq % 13}@acme.test`,
      action: 'test.bulk',
      subject: `grt_${seq}`,
      details: { seq, note: 'é "q"' },
      refs: [`grt_${seq}`, `req_${seq}`],
      prev_hash: prev,
    };
    prev = eventHash(e);
    events.push({ ...e, hash: prev, body: eventBody(e) });
  }
  await sql.query(
    `INSERT INTO audit_events (seq, at, actor, action, subject, details, refs, prev_hash, hash, body)
     SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(seq bigint, at timestamptz, actor text,
       action text, subject text, details jsonb, refs text[], prev_hash text, hash text, body text)`,
    [JSON.stringify(events)],
  );
  await asTableOwner(sql, `UPDATE audit_head SET seq = ${n}, hash = '${prev}' WHERE id = 1`);
}

test('verify by binary COPY finds what reading by pages finds, across its ranges, alteration by alteration', async (t) => {
  const store = await testStore();
  try {
    const { sql } = store;
    if (!sql.copyOut) {
      t.skip('the embedded store has no binary COPY: verify reads it by pages alone');
      return;
    }
    // The same store without binary COPY: verify's page reading, the judge the fast path defers to.
    const byPages: Sql = { query: sql.query, transaction: sql.transaction };
    const n = 23_456; // more than two COPY ranges of 10,000
    await bulkChain(sql, n);
    const both = async () => {
      const [copy, pages] = [await verifyAudit(sql), await verifyAudit(byPages)];
      assert.deepEqual(copy, pages);
      return copy;
    };
    const intact = await both();
    assert.equal(intact.ok && intact.events, n);
    // The intact chain was read by COPY: only its end (and the sequencer before it) by query.
    let queries = 0;
    const counted: Sql = {
      query: (text, params) => (queries++, sql.query(text, params)),
      transaction: sql.transaction,
      copyOut: sql.copyOut,
    };
    assert.deepEqual(await verifyAudit(counted), intact);
    assert.ok(queries < 10, `${queries} queries: the pages were read by query`);
    // Each alteration lies before the last, so each verification reports the newest one.
    const alterations: [number, string, string][] = [
      [
        21_000,
        `UPDATE audit_events SET at = at + interval '1 microsecond' WHERE seq = 21000`,
        'altered',
      ],
      [20_001, `UPDATE audit_events SET body = 'not json' WHERE seq = 20001`, 'altered'],
      [20_000, `UPDATE audit_events SET refs = '{grt_x}' WHERE seq = 20000`, 'altered'],
      [15_000, `DELETE FROM audit_events WHERE seq = 15000`, 'missing'],
      [10_001, `UPDATE audit_events SET prev_hash = 'x' WHERE seq = 10001`, 'prev_hash mismatch'],
      [10_000, `UPDATE audit_events SET details = '{"seq": 10000}' WHERE seq = 10000`, 'altered'],
      [1, `UPDATE audit_events SET subject = 'grt_x' WHERE seq = 1`, 'altered'],
    ];
    for (const [i, [seq, statement, reason]] of alterations.entries()) {
      // The first, below the millisecond the body renders, gets through the store's check of
      // columns against bodies (migration 034), so COPY judges it while trusting that check; for
      // the others the owner drops the check first.
      await asTableOwner(sql, ...(i === 0 ? [] : [DROP_CHECK]), statement);
      assert.equal(await columnsHeldToBodies(sql), i === 0, statement);
      const r = await both();
      assert.equal(r.ok === false && r.first_bad, seq, statement);
      assert.match(r.ok === false ? r.reason : '', new RegExp(reason), statement);
      assert.equal(r.events, seq - 1, statement);
    }
  } finally {
    await store.close();
  }
});
