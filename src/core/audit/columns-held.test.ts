import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Sql } from '../sql.js';
import { migrationFiles, splitStatements } from '../../store/migrate.js';
import { testStore } from '../../store/test-store.js';
import { appendAudit, auditedTransaction, recordAudit } from './chain.js';
import { columnsHeldToBodies, verifyAudit } from './verify.js';

const T0 = Date.parse('2026-04-01T09:00:00.000Z');

async function withStore(fn: (sql: Sql) => Promise<void>): Promise<void> {
  const store = await testStore();
  try {
    await fn(store.sql);
  } finally {
    await store.close();
  }
}

/** Six events, seq 1..6, as the use cases write them. */
async function appendSix(sql: Sql): Promise<void> {
  for (let i = 1; i <= 6; i++) {
    await sql.transaction((tx) =>
      appendAudit(tx, new Date(T0 + i * 60_000), {
        actor: 'alice@acme.test',
        action: 'config.applied',
        subject: `req_${i}`,
        details: { n: i, nested: { b: [1, 2], a: 'x' } },
        refs: [`req_${i}`],
      }),
    );
  }
}

/** As the table owner may: the append-only triggers off for the statements, the check left alone. */
async function asTableOwner(sql: Sql, ...statements: string[]): Promise<void> {
  await sql.transaction(async (tx) => {
    await tx.query('ALTER TABLE audit_events DISABLE TRIGGER USER');
    for (const text of statements) await tx.query(text);
    await tx.query('ALTER TABLE audit_events ENABLE TRIGGER USER');
  });
}

/** Migration 034 run again: the check added, validated unless a row disagrees. */
const migration034 = splitStatements(migrationFiles().find((m) => m.version === 34)!.text);

/** Verify, over `sql`, reports event `seq` altered, and nothing before it. */
async function reportsAltered(sql: Sql, seq: number): Promise<void> {
  const r = await verifyAudit(sql);
  assert.equal(r.ok === false && r.first_bad, seq);
  assert.equal(
    r.ok === false && r.reason,
    `event ${seq} was altered: its hash does not match its contents`,
  );
}

test('a migrated store holds every event to its body, and verify trusts that check', async () => {
  await withStore(async (sql) => {
    assert.equal(await columnsHeldToBodies(sql), true);
    await appendSix(sql);
    const r = await verifyAudit(sql);
    assert.equal(r.ok && r.events, 6);
  });
});

test('the store refuses an event whose columns disagree with its body, even with its triggers off', async () => {
  await withStore(async (sql) => {
    await appendSix(sql);
    for (const change of [
      `UPDATE audit_events SET actor = 'mallory' WHERE seq = 3`,
      `UPDATE audit_events SET details = '{"n": 500}' WHERE seq = 3`,
      `UPDATE audit_events SET refs = '{}' WHERE seq = 3`,
      `UPDATE audit_events SET at = at + interval '1 second' WHERE seq = 3`,
      `UPDATE audit_events SET body = replace(body, 'alice', 'mallory') WHERE seq = 3`,
    ]) {
      await assert.rejects(asTableOwner(sql, change), /audit_events_agree/, change);
    }
    await assert.rejects(
      sql.query(
        `INSERT INTO audit_events (seq, at, actor, action, subject, details, refs, prev_hash, hash, body)
         SELECT 7, at, 'mallory', action, subject, details, refs, hash, 'h7', body
           FROM audit_events WHERE seq = 6`,
      ),
      /audit_events_agree/,
    );
    assert.equal((await verifyAudit(sql)).ok, true);
  });
});

test('what the check lets through is judged row by row: a moved microsecond, a year past 9999', async () => {
  await withStore(async (sql) => {
    await appendSix(sql);
    // Below the millisecond the body renders: the check passes it, the chain does not.
    await asTableOwner(
      sql,
      `UPDATE audit_events SET at = at + interval '400 microseconds' WHERE seq = 5`,
    );
    assert.equal(await columnsHeldToBodies(sql), true);
    await reportsAltered(sql, 5);
  });
  await withStore(async (sql) => {
    await appendSix(sql);
    // A year the server renders otherwise than toISOString: the check does not judge it.
    await asTableOwner(
      sql,
      `UPDATE audit_events SET at = '10026-04-01T09:03:00Z', actor = 'mallory' WHERE seq = 3`,
    );
    assert.equal(await columnsHeldToBodies(sql), true);
    await reportsAltered(sql, 3);
  });
});

test('verify stops trusting the check once the owner drops it, weakens it or adds it unvalidated', async () => {
  await withStore(async (sql) => {
    await appendSix(sql);
    const printed = () =>
      sql.query<{ def: string; convalidated: boolean; deps: number | string }>(
        `SELECT pg_get_constraintdef(c.oid) AS def, c.convalidated,
                (SELECT count(*) FROM pg_depend d
                  WHERE d.objid = c.oid AND d.refclassid = 'pg_proc'::regclass) AS deps
           FROM pg_constraint c WHERE c.conname = 'audit_events_agree'`,
      );
    const [original] = await printed();
    const altered = () => reportsAltered(sql, 4);
    await asTableOwner(
      sql,
      'ALTER TABLE audit_events DROP CONSTRAINT audit_events_agree',
      `UPDATE audit_events SET actor = 'mallory' WHERE seq = 4`,
    );
    assert.equal(await columnsHeldToBodies(sql), false);
    await altered();

    // Added again as migration 034 adds it: event 4 keeps it unvalidated.
    await asTableOwner(sql, ...migration034);
    assert.equal(await columnsHeldToBodies(sql), false);
    await altered();

    // A check of the same name that checks nothing.
    await asTableOwner(
      sql,
      'ALTER TABLE audit_events DROP CONSTRAINT audit_events_agree',
      'ALTER TABLE audit_events ADD CONSTRAINT audit_events_agree CHECK (true)',
    );
    assert.equal(await columnsHeldToBodies(sql), false);
    await altered();

    // Event 4 put back, and the check added again in the same words, but with to_jsonb resolved
    // to a function of the owner's: it prints back the same and is validated, yet the owner could
    // change that function at will; only the dependency on it tells.
    await asTableOwner(
      sql,
      `UPDATE audit_events SET actor = 'alice@acme.test' WHERE seq = 4`,
      'ALTER TABLE audit_events DROP CONSTRAINT audit_events_agree',
      `CREATE FUNCTION to_jsonb(r text[]) RETURNS jsonb LANGUAGE sql IMMUTABLE
         AS $$ SELECT pg_catalog.to_jsonb(r) $$`,
      ...migration034,
    );
    const [shadowed] = await printed();
    assert.deepEqual(
      { ...shadowed, deps: Number(shadowed!.deps) },
      { def: original!.def, convalidated: true, deps: 1 },
    );
    assert.equal(await columnsHeldToBodies(sql), false);
    assert.equal((await verifyAudit(sql)).ok, true);

    // Made of built-ins again: trusted again.
    await asTableOwner(
      sql,
      'ALTER TABLE audit_events DROP CONSTRAINT audit_events_agree',
      'DROP FUNCTION to_jsonb(text[])',
      ...migration034,
    );
    assert.equal(await columnsHeldToBodies(sql), true);
    assert.equal((await verifyAudit(sql)).ok, true);
  });
});

test('an upgrade over a log holding a body that is not JSON goes on, and verify names that event', async () => {
  await withStore(async (sql) => {
    await appendSix(sql);
    await asTableOwner(
      sql,
      'ALTER TABLE audit_events DROP CONSTRAINT audit_events_agree',
      `UPDATE audit_events SET body = 'not json' WHERE seq = 2`,
    );
    // Migration 034 run over it, as an upgrade would: the check stays unvalidated, no error.
    await asTableOwner(sql, ...migration034);
    assert.equal(await columnsHeldToBodies(sql), false);
    await reportsAltered(sql, 2);
  });
});

test('an actor or subject with a lone surrogate is chained as the store keeps it, and never blocks the chain', async () => {
  await withStore(async (sql) => {
    // The driver sends a lone surrogate as U+FFFD: the body must say the same, or the store's
    // check would refuse the event for good, and every event staged after it with it.
    const input = {
      actor: 'mal\ud800lory@acme.test',
      action: 'config.applied' as const,
      subject: 'req_\udc00x',
    };
    await sql.transaction((tx) => appendAudit(tx, new Date(T0), input));
    await auditedTransaction(sql, (tx) => recordAudit(tx, new Date(T0 + 1000), input));
    await auditedTransaction(sql, (tx) =>
      recordAudit(tx, new Date(T0 + 2000), { ...input, actor: 'alice@acme.test' }),
    );
    const r = await verifyAudit(sql);
    assert.equal(r.ok && r.events, 3);
    const rows = await sql.query<{ actor: string; subject: string }>(
      'SELECT actor, subject FROM audit_events ORDER BY seq',
    );
    assert.deepEqual(rows[1], { actor: 'mal\ufffdlory@acme.test', subject: 'req_\ufffdx' });
  });
});

test('a check dropped while verify reads is caught at the end, and the chain read again row by row', async () => {
  await withStore(async (sql) => {
    await appendSix(sql);
    // The owner drops the check and alters event 4 just after verify has found it standing.
    let asked = 0;
    const racing: Sql = {
      ...sql,
      query: async (text, params) => {
        const rows = await sql.query(text, params);
        if (text.includes('audit_events_agree') && ++asked === 1) {
          await asTableOwner(
            sql,
            'ALTER TABLE audit_events DROP CONSTRAINT audit_events_agree',
            `UPDATE audit_events SET actor = 'mallory' WHERE seq = 4`,
          );
        }
        return rows as never;
      },
    };
    await reportsAltered(racing, 4);
    assert.equal(asked, 2);
  });
});
