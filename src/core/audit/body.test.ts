import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Sql } from '../sql.js';
import { testStore, type TestStore } from '../../store/test-store.js';
import {
  appendAudit,
  appendAuditMany,
  auditedTransaction,
  bodyHash,
  eventBody,
  eventHash,
  recordAudit,
} from './chain.js';
import { BODY_AFTER_DETAILS, BODY_BEFORE_DETAILS, canonicalJson } from './hash-body.js';
import { AUDIT_COLUMNS, type AuditRow, toEvent } from './rows.js';
import { readPage, verifyAudit } from './verify.js';

const T0 = Date.parse('2026-04-01T09:00:00.000Z');
const at = (i: number) => new Date(T0 + i * 60_000);

async function withStore(fn: (s: TestStore) => Promise<void>): Promise<void> {
  const store = await testStore();
  try {
    await fn(store);
  } finally {
    await store.close();
  }
}

/**
 * As the table owner would write it: the append-only triggers off for the statements, and the
 * check that holds columns to bodies (migration 034) dropped, as an owner altering rows would.
 */
async function asTableOwner(sql: Sql, ...statements: [string, unknown[]?][]): Promise<void> {
  await sql.transaction(async (tx) => {
    for (const t of ['audit_events', 'audit_head']) {
      await tx.query(`ALTER TABLE ${t} DISABLE TRIGGER USER`);
    }
    await tx.query('ALTER TABLE audit_events DROP CONSTRAINT IF EXISTS audit_events_agree');
    for (const [text, params] of statements) await tx.query(text, params);
    for (const t of ['audit_events', 'audit_head']) {
      await tx.query(`ALTER TABLE ${t} ENABLE TRIGGER USER`);
    }
  });
}

/** Makes events 1..n look written before migration 028: no body, the check not yet there. */
async function writtenBeforeBodies(sql: Sql, n: number): Promise<void> {
  await asTableOwner(
    sql,
    ['ALTER TABLE audit_events DROP CONSTRAINT audit_events_body'],
    ['UPDATE audit_events SET body = NULL WHERE seq <= $1', [n]],
    [
      'ALTER TABLE audit_events ADD CONSTRAINT audit_events_body CHECK (body IS NOT NULL) NOT VALID',
    ],
  );
}

/** Ten events written every way the store writes them: at once, in a batch, staged. */
async function appendTen(sql: Sql): Promise<void> {
  const input = (i: number) => ({
    actor: `person${i}@acme.test`,
    action: 'config.applied' as const,
    subject: `req_${i}`,
    refs: [`grt_${i}`],
    details: { n: i, nested: { b: [1, 'é "q"'], a: null }, big: 1e21, small: -0.5 },
  });
  for (let i = 1; i <= 3; i++) await sql.transaction((tx) => appendAudit(tx, at(i), input(i)));
  await sql.transaction((tx) => appendAuditMany(tx, at(4), [4, 5, 6].map(input)));
  for (let i = 7; i <= 10; i++) {
    await auditedTransaction(sql, (tx) => recordAudit(tx, at(i), input(i)));
  }
}

test('every way of appending stores the bytes the hash covers as the body', async () => {
  await withStore(async ({ sql }) => {
    await appendTen(sql);
    const rows = await sql.query<AuditRow & { body: string }>(
      `SELECT ${AUDIT_COLUMNS}, body FROM audit_events ORDER BY seq`,
    );
    assert.equal(rows.length, 10);
    for (const row of rows) {
      const e = toEvent(row);
      assert.equal(row.body, eventBody(e));
      assert.equal(bodyHash(e.prev_hash, row.body), e.hash);
      assert.equal(eventHash(e), e.hash);
    }
    assert.equal((await verifyAudit(sql)).ok, true);
  });
});

test('the store refuses an event without a body', async () => {
  await withStore(async ({ sql }) => {
    await assert.rejects(
      sql.query(
        `INSERT INTO audit_events (seq, at, actor, action, subject, details, refs, prev_hash, hash)
         VALUES (1, now(), 'a', 'x', 'x', '{}', '{}', 'genesis', 'h1')`,
      ),
      /audit_events_body/,
    );
  });
});

test('altering any column, the body, the link or the hash of an event with a body is reported at it', async () => {
  await withStore(async ({ sql }) => {
    await appendTen(sql);
    const [row] = await sql.query<AuditRow & { body: string }>(
      `SELECT ${AUDIT_COLUMNS}, body FROM audit_events WHERE seq = 5`,
    );
    const original = toEvent(row!);
    const forged = { ...original, actor: 'mallory' };
    const altered = 'event 5 was altered: its hash does not match its contents';
    const cases: [string, [string, unknown[]?][], string][] = [
      ['details', [[`UPDATE audit_events SET details = '{"n": 500}' WHERE seq = 5`]], altered],
      [
        'details, by a number jsonb reads as another',
        [
          [
            `UPDATE audit_events SET details = jsonb_set(details, '{n}', '5.000000000000000001') WHERE seq = 5`,
          ],
        ],
        altered,
      ],
      ['actor', [[`UPDATE audit_events SET actor = 'mallory' WHERE seq = 5`]], altered],
      ['action', [[`UPDATE audit_events SET action = 'grant.revoked' WHERE seq = 5`]], altered],
      ['subject', [[`UPDATE audit_events SET subject = 'req_x' WHERE seq = 5`]], altered],
      ['refs', [[`UPDATE audit_events SET refs = refs || '{grt_x}' WHERE seq = 5`]], altered],
      ['at', [[`UPDATE audit_events SET at = at + interval '1 second' WHERE seq = 5`]], altered],
      [
        'at, by less than the millisecond its hash covers',
        [[`UPDATE audit_events SET at = at + interval '400 microseconds' WHERE seq = 5`]],
        altered,
      ],
      ['seq', [['UPDATE audit_events SET seq = 5000 WHERE seq = 5']], 'event 5 is missing'],
      ['body', [['UPDATE audit_events SET body = $1 WHERE seq = 5', [eventBody(forged)]]], altered],
      ['body, not JSON', [[`UPDATE audit_events SET body = '{"actor":' WHERE seq = 5`]], altered],
      [
        'body and hash, the columns left as they were',
        [
          [
            'UPDATE audit_events SET body = $1, hash = $2 WHERE seq = 5',
            [eventBody(forged), eventHash(forged)],
          ],
        ],
        altered,
      ],
      [
        'body removed',
        [
          ['ALTER TABLE audit_events DROP CONSTRAINT audit_events_body'],
          ['UPDATE audit_events SET body = NULL WHERE seq = 5'],
        ],
        'event 5 was altered: its hashed body is missing',
      ],
      [
        'prev_hash',
        [[`UPDATE audit_events SET prev_hash = 'x' WHERE seq = 5`]],
        'event 5 does not follow event 4: prev_hash mismatch',
      ],
      ['hash', [[`UPDATE audit_events SET hash = 'x' WHERE seq = 5`]], altered],
    ];
    for (const [what, statements, reason] of cases) {
      await asTableOwner(sql, ...statements);
      const r = await verifyAudit(sql);
      assert.equal(r.ok, false, what);
      assert.equal(r.ok === false && r.first_bad, 5, what);
      assert.equal(r.ok === false && r.reason, reason, what);
      assert.equal(r.events, 4, what);
      // Put back as written, the check too, for the next case.
      await asTableOwner(
        sql,
        ['DELETE FROM audit_events WHERE seq IN (5, 5000)'],
        ['ALTER TABLE audit_events DROP CONSTRAINT IF EXISTS audit_events_body'],
        [
          `INSERT INTO audit_events (seq, at, actor, action, subject, details, refs, prev_hash, hash, body)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
          [
            5,
            original.at,
            original.actor,
            original.action,
            original.subject,
            JSON.stringify(original.details),
            original.refs,
            original.prev_hash,
            original.hash,
            row!.body,
          ],
        ],
        ['ALTER TABLE audit_events ADD CONSTRAINT audit_events_body CHECK (body IS NOT NULL)'],
      );
      assert.equal((await verifyAudit(sql)).ok, true, `${what}: put back`);
    }
  });
});

test('events written before bodies verify from their columns, those after from their bodies', async () => {
  await withStore(async ({ sql }) => {
    await appendTen(sql);
    await writtenBeforeBodies(sql, 6);
    await sql.transaction((tx) =>
      appendAudit(tx, at(11), { actor: 'a', action: 'config.applied', subject: 's' }),
    );
    const [counts] = await sql.query<{ without: number | string }>(
      'SELECT count(*) FILTER (WHERE body IS NULL) AS without FROM audit_events',
    );
    assert.equal(Number(counts!.without), 6);
    const ok = await verifyAudit(sql);
    assert.equal(ok.ok && ok.events, 11);
    await asTableOwner(
      sql,
      ['ALTER TABLE audit_events DROP CONSTRAINT audit_events_body'],
      [`UPDATE audit_events SET actor = 'mallory' WHERE seq = 3`],
    );
    const r = await verifyAudit(sql);
    assert.equal(r.ok === false && r.first_bad, 3);
    assert.equal(
      r.ok === false && r.reason,
      'event 3 was altered: its hash does not match its contents',
    );
    // A fraction of a millisecond: the hash never covered it before bodies, and still does not.
    await asTableOwner(
      sql,
      [`UPDATE audit_events SET actor = $1 WHERE seq = 3`, ['person3@acme.test']],
      [`UPDATE audit_events SET at = at + interval '1 microsecond' WHERE seq IN (2, 8)`],
    );
    const fraction = await verifyAudit(sql);
    assert.equal(fraction.ok === false && fraction.first_bad, 8, 'a fraction of a millisecond');
  });
});

test('events missing at the end of a page, or forged far past the head, are reported', async () => {
  await withStore(async ({ sql }) => {
    const inputs = Array.from({ length: 2100 }, (_, i) => ({
      actor: 'bulk',
      action: 'config.applied' as const,
      subject: `req_${i}`,
      details: { n: i },
    }));
    await sql.transaction((tx) => appendAuditMany(tx, at(0), inputs));
    assert.equal((await verifyAudit(sql)).events, 2100);
    await asTableOwner(sql, [
      `INSERT INTO audit_events (seq, at, actor, action, subject, details, refs, prev_hash, hash, body)
       SELECT 1000000, at, actor, action, subject, details, refs, hash, 'x', body
         FROM audit_events WHERE seq = 2100`,
    ]);
    const far = await verifyAudit(sql);
    assert.equal(far.ok === false && far.reason, 'events 2101 to 999999 are missing');
    await asTableOwner(sql, ['DELETE FROM audit_events WHERE seq BETWEEN 995 AND 1000']);
    const r = await verifyAudit(sql);
    assert.equal(r.ok === false && r.first_bad, 995);
    assert.equal(r.ok === false && r.reason, 'events 995 to 1000 are missing');
    assert.equal(r.events, 994);
  });
});

test('an event with awkward strings in every free field verifies through the fast path', async () => {
  await withStore(async ({ sql }) => {
    // Quotes, backslashes, control characters (escaped as \b\f\n\r\t or \u00xx), DEL, non-ASCII,
    // an emoji (a surrogate pair in JavaScript), U+2028 and U+2029 (which JSON.stringify leaves
    // as they are). No U+0000: PostgreSQL text cannot hold it, so no event carries one.
    const odd = 'q"uote \\back\\slash\\ \b\f\n\r\t \u0001\u001f\u007f é 😀 \u2028\u2029 </script>';
    const input = {
      actor: `actor ${odd}`,
      action: 'config.applied' as const,
      subject: `subject ${odd}`,
      refs: [`ref ${odd}`, '', '"', '\\'],
      details: {
        [`key ${odd}`]: odd,
        nested: { [odd]: [odd, 1, -0.5, 1e21, null, true], '': '' },
        'Z-before-a': 1,
        é: 2,
        '😀': 3,
        '\uffff': 4,
      },
    };
    await sql.transaction((tx) => appendAudit(tx, at(1), input));
    await sql.transaction((tx) => appendAuditMany(tx, at(2), [input, input]));
    await auditedTransaction(sql, (tx) => recordAudit(tx, at(3), input));
    // The server vouches for every column of each (no row judge needed)...
    const rows = await readPage(sql, undefined, 1000);
    assert.equal(rows.length, 4);
    for (const row of rows) assert.equal(row.agrees, true, `event ${row.seq}`);
    // ...and PostgreSQL renders the fixed fields as JSON.stringify does (hash-body.ts), byte for
    // byte: the parts verify reads for events without a body rebuild exactly the stored one.
    const parts = await sql.query<{
      body: string;
      before: string;
      after: string;
      details: unknown;
    }>(
      `SELECT body, details, ${BODY_BEFORE_DETAILS} AS before, ${BODY_AFTER_DETAILS} AS after
         FROM audit_events ORDER BY seq`,
    );
    for (const p of parts) {
      const details =
        typeof p.details === 'string' ? (JSON.parse(p.details) as unknown) : p.details;
      assert.equal(`${p.before}${canonicalJson(details)}${p.after}`, p.body);
    }
    const r = await verifyAudit(sql);
    assert.equal(r.ok && r.events, 4);
  });
});
