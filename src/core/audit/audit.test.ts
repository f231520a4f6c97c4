import type { AuditAction } from './actions.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Sql } from '../sql.js';
import { InputError } from '../errors.js';
import { testStore, type TestStore } from '../../store/test-store.js';
import { appendAudit, appendAuditMany, eventBody, eventHash, type AuditEvent } from './chain.js';
import { verifyAudit } from './verify.js';
import { traceAudit } from './trace.js';
import { exportAudit } from './export.js';

const T0 = Date.parse('2025-03-01T09:00:00.000Z');
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
 * Runs statements as an attacker with the table owner's rights would: the append-only triggers
 * of migration 004 switched off for the duration. A signed checkpoint is what catches them then.
 */
async function asTableOwner(sql: Sql, ...statements: [string, unknown[]?][]): Promise<void> {
  await sql.transaction(async (tx) => {
    for (const t of ['audit_events', 'audit_head']) {
      await tx.query(`ALTER TABLE ${t} DISABLE TRIGGER USER`);
    }
    // The owner can drop the check that holds columns to bodies (migration 034), too.
    await tx.query('ALTER TABLE audit_events DROP CONSTRAINT IF EXISTS audit_events_agree');
    for (const [text, params] of statements) await tx.query(text, params);
    for (const t of ['audit_events', 'audit_head']) {
      await tx.query(`ALTER TABLE ${t} ENABLE TRIGGER USER`);
    }
  });
}

/** Ten events, seq 1..10, each in its own transaction as the use cases write them. */
async function appendTen(sql: Sql): Promise<void> {
  for (let i = 1; i <= 10; i++) {
    await sql.transaction((tx) =>
      appendAudit(tx, at(i), {
        actor: 'alice@acme.test',
        action: 'config.applied',
        subject: `req_${i}`,
        details: { n: i, nested: { b: [1, 2], a: 'x' } },
      }),
    );
  }
}

test('an intact log, empty or not, verifies with its event count', async () => {
  await withStore(async ({ sql }) => {
    assert.deepEqual(await verifyAudit(sql), {
      ok: true,
      events: 0,
      head: { seq: 0, hash: 'genesis' },
    });
    await appendTen(sql);
    const [last] = await sql.query<{ hash: string }>(
      'SELECT hash FROM audit_events WHERE seq = 10',
    );
    assert.deepEqual(await verifyAudit(sql), {
      ok: true,
      events: 10,
      head: { seq: 10, hash: last?.hash },
    });
  });
});

test('an altered row is reported at its own seq', async () => {
  await withStore(async ({ sql }) => {
    await appendTen(sql);
    await asTableOwner(sql, [`UPDATE audit_events SET details = '{"n": 500}' WHERE seq = 5`]);
    const r = await verifyAudit(sql);
    assert.equal(r.ok, false);
    assert.equal(r.ok === false && r.first_bad, 5);
    assert.equal(
      r.ok === false && r.reason,
      'event 5 was altered: its hash does not match its contents',
    );
    assert.equal(r.events, 4);
  });
});

test('an altered row whose hash was recomputed breaks the link to the next one', async () => {
  await withStore(async ({ sql }) => {
    await appendTen(sql);
    const [row] = await sql.query<AuditEvent>('SELECT * FROM audit_events WHERE seq = 5');
    assert.ok(row);
    const forged = { ...row, seq: 5, at: new Date(row.at).toISOString(), actor: 'mallory' };
    await asTableOwner(sql, [
      `UPDATE audit_events SET actor = 'mallory', hash = $1, body = $2 WHERE seq = 5`,
      [eventHash(forged), eventBody(forged)],
    ]);
    const r = await verifyAudit(sql);
    assert.equal(r.ok === false && r.first_bad, 6);
    assert.equal(r.ok === false && r.reason, 'event 6 does not follow event 5: prev_hash mismatch');
  });
});

test('a deleted middle row is reported as the gap it leaves', async () => {
  await withStore(async ({ sql }) => {
    await appendTen(sql);
    await asTableOwner(sql, ['DELETE FROM audit_events WHERE seq = 7']);
    const r = await verifyAudit(sql);
    assert.equal(r.ok === false && r.first_bad, 7);
    assert.equal(r.ok === false && r.reason, 'event 7 is missing');
  });
});

test('two rows with swapped contents are reported at the earlier one', async () => {
  await withStore(async ({ sql }) => {
    await appendTen(sql);
    // Every column but seq trades places, as if the rows had been reordered.
    await asTableOwner(sql, [
      `UPDATE audit_events a SET at = b.at, actor = b.actor, action = b.action,
        subject = b.subject, details = b.details, refs = b.refs, prev_hash = b.prev_hash,
        hash = b.hash
      FROM (SELECT * FROM audit_events WHERE seq IN (3, 4)) b
      WHERE a.seq IN (3, 4) AND b.seq = 7 - a.seq`,
    ]);
    const r = await verifyAudit(sql);
    assert.equal(r.ok === false && r.first_bad, 3);
    assert.equal(r.ok === false && r.reason, 'event 3 does not follow event 2: prev_hash mismatch');
  });
});

test('a cut-off tail is caught by the head', async () => {
  await withStore(async ({ sql }) => {
    await appendTen(sql);
    await asTableOwner(sql, ['DELETE FROM audit_events WHERE seq = 10']);
    const r = await verifyAudit(sql);
    assert.equal(r.ok === false && r.first_bad, 10);
    assert.equal(r.ok === false && r.reason, 'the log ends at 9 but the head records 10');
    assert.equal(r.events, 9);
  });
});

test('a log longer than one page verifies, and a break deep in it is found', async () => {
  await withStore(async ({ sql }) => {
    const n = 12_001;
    const events: (AuditEvent & { body: string })[] = [];
    let prev = 'genesis';
    for (let seq = 1; seq <= n; seq++) {
      const e = {
        seq,
        at: at(seq).toISOString(),
        actor: 'bulk',
        action: 'test.bulk',
        subject: `grt_${seq}`,
        details: { seq },
        refs: [`grt_${seq}`],
        prev_hash: prev,
      };
      prev = eventHash(e);
      events.push({ ...e, hash: prev, body: eventBody(e) });
    }
    // One statement instead of 12,001 appends keeps the test fast.
    await sql.query(
      `INSERT INTO audit_events (seq, at, actor, action, subject, details, refs, prev_hash, hash, body)
       SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(seq bigint,
         at timestamptz, actor text, action text, subject text, details jsonb, refs text[],
         prev_hash text, hash text, body text)`,
      [JSON.stringify(events)],
    );
    // Moving the head 12,001 steps at once is what the store refuses short of its owner.
    await asTableOwner(sql, ['UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1', [n, prev]]);
    assert.deepEqual(await verifyAudit(sql), { ok: true, events: n, head: { seq: n, hash: prev } });
    let lines = 0;
    assert.equal(await exportAudit(sql, undefined, () => lines++), n);
    assert.equal(lines, n);
    await asTableOwner(sql, [`UPDATE audit_events SET subject = 'grt_x' WHERE seq = 10001`]);
    const r = await verifyAudit(sql);
    assert.equal(r.ok === false && r.first_bad, 10_001);
  });
});

test('trace follows a request to its grant and the grant to its extension', async () => {
  await withStore(async ({ sql }) => {
    const req = (id: string, extendsGrant: string | null) =>
      sql.query(
        `INSERT INTO requests (id, requester, beneficiary, entitlement, justification, kind,
           extends_grant, status, decision, created_at)
         VALUES ($1, 'bob@acme.test', 'bob@acme.test', 'github:read', 'work', $2, $3,
           'approved', '{}', $4)`,
        [id, extendsGrant ? 'extend' : 'access', extendsGrant, at(0).toISOString()],
      );
    await req('req_a', null);
    await req('req_b', 'grt_a');
    await req('req_quiet', null);
    await sql.query(
      `INSERT INTO grants (id, identity, entitlement, app, owner, request_id, trigger, state,
         created_at)
       VALUES ('grt_a', 'bob@acme.test', 'github:read', 'github', 'carol@acme.test', 'req_a',
         'request', 'active', $1)`,
      [at(0).toISOString()],
    );
    const log: [string, string, string[]?][] = [
      ['request.created', 'req_a'], // 1
      ['request.created', 'req_other'], // 2
      ['request.approved', 'req_a'], // 3
      ['grant.created', 'grt_a', ['req_a']], // 4
      ['grant.activated', 'grt_a'], // 5
      ['grant.activated', 'grt_other'], // 6
      ['request.created', 'req_b'], // 7: reaches grt_a only through requests.extends_grant
      ['grant.extended', 'grt_a', ['req_b']], // 8
    ];
    for (const [i, [action, subject, refs]] of log.entries()) {
      await sql.transaction((tx) =>
        appendAudit(tx, at(i + 1), {
          actor: 'system',
          action: action as AuditAction,
          subject,
          refs,
        }),
      );
    }
    const seqs = async (id: string) => (await traceAudit(sql, id)).map((e) => e.seq);
    assert.deepEqual(await seqs('req_a'), [1, 3, 4, 5, 8]);
    assert.deepEqual(await seqs('grt_a'), [1, 3, 4, 5, 7, 8]);
    assert.deepEqual(await seqs('req_b'), [4, 5, 7, 8]);
    assert.deepEqual(await seqs('req_other'), [2]); // events alone are enough
    assert.deepEqual(await seqs('req_quiet'), []); // known, nothing happened yet
    const [first] = await traceAudit(sql, 'req_a');
    assert.equal(first?.at, at(1).toISOString());
    assert.equal(first?.action, 'request.created');
  });
});

test('trace of an unknown id is an input error that names it', async () => {
  await withStore(async ({ sql }) => {
    await appendTen(sql);
    await assert.rejects(traceAudit(sql, 'grt_nope'), (e: unknown) => {
      assert.ok(e instanceof InputError);
      assert.equal(e.message, 'no request or grant with id grt_nope');
      return true;
    });
  });
});

test('export writes one parseable JSON line per event, optionally since an instant', async () => {
  await withStore(async ({ sql }) => {
    await appendTen(sql);
    const lines: string[] = [];
    assert.equal(await exportAudit(sql, undefined, (l) => lines.push(l)), 10);
    assert.equal(lines.length, 10);
    const parsed = lines.map((l) => JSON.parse(l) as AuditEvent);
    assert.deepEqual(
      parsed.map((e) => e.seq),
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    );
    assert.deepEqual(Object.keys(parsed[0] ?? {}), [
      'seq',
      'at',
      'actor',
      'action',
      'subject',
      'details',
      'refs',
      'prev_hash',
      'hash',
    ]);
    // An exported line carries everything needed to recompute its hash.
    for (const e of parsed) assert.equal(eventHash(e), e.hash);
    const since: string[] = [];
    assert.equal(await exportAudit(sql, at(8), (l) => since.push(l)), 3);
    assert.equal((JSON.parse(since[0] ?? '{}') as AuditEvent).seq, 8);
  });
});

test('events appended as a batch form the same chain as events appended one by one', async () => {
  const inputs = Array.from({ length: 7 }, (_, i) => ({
    actor: 'bob@acme.test',
    action: 'grant.expired' as AuditAction,
    subject: `grt_${i}`,
    refs: i % 2 ? [`req_${i}`, `grt_${i}`] : [],
    details: { n: i, nested: { z: [i], a: null }, when: at(i).toISOString() },
  }));
  const one: AuditEvent[] = [];
  const many: AuditEvent[] = [];
  await withStore(async ({ sql }) => {
    await appendTen(sql);
    for (const input of inputs)
      one.push(await sql.transaction((tx) => appendAudit(tx, at(20), input)));
    assert.equal((await verifyAudit(sql)).ok, true);
  });
  await withStore(async ({ sql }) => {
    await appendTen(sql);
    many.push(...(await sql.transaction((tx) => appendAuditMany(tx, at(20), inputs))));
    assert.deepEqual(await verifyAudit(sql), {
      ok: true,
      events: 17,
      head: { seq: 17, hash: many.at(-1)!.hash },
    });
    const stored = await sql.query<{ seq: number; refs: string[]; hash: string }>(
      'SELECT seq, refs, hash FROM audit_events WHERE seq > 10 ORDER BY seq',
    );
    assert.deepEqual(
      stored.map((r) => [Number(r.seq), r.refs, r.hash]),
      many.map((e) => [e.seq, e.refs, e.hash]),
    );
    // Nothing appended for an empty batch, and the head is untouched.
    assert.deepEqual(await sql.transaction((tx) => appendAuditMany(tx, at(21), [])), []);
    assert.equal((await verifyAudit(sql)).events, 17);
  });
  assert.deepEqual(
    many.map((e) => e.hash),
    one.map((e) => e.hash),
  );
});

/** The body of an event mallory writes by hand at at(11), as appendAudit would render it. */
const strayBody = (seq: number) =>
  eventBody({
    seq,
    at: at(11).toISOString(),
    actor: 'mallory',
    action: 'x',
    subject: 'x',
    details: {},
    refs: [],
  });

test('the head moves over a batch only when every event of it links to the one before', async () => {
  await withStore(async ({ sql }) => {
    await appendTen(sql);
    const head = (await sql.query<{ hash: string }>('SELECT hash FROM audit_head'))[0]!.hash;
    // Two events inserted by hand (bodies saying what their columns say, as the store insists),
    // the second not linked to the first: the head cannot jump.
    await sql.query(
      `INSERT INTO audit_events (seq, at, actor, action, subject, details, refs, prev_hash, hash, body)
       VALUES (11, $2, 'mallory', 'x', 'x', '{}', '{}', $1, 'h11', $3),
              (12, $2, 'mallory', 'x', 'x', '{}', '{}', 'elsewhere', 'h12', $4)`,
      [head, at(11).toISOString(), strayBody(11), strayBody(12)],
    );
    await assert.rejects(
      sql.query(`UPDATE audit_head SET seq = 12, hash = 'h12'`),
      /audit_head only moves forward/,
    );
    // A jump over a gap is refused too.
    await sql.query(
      `INSERT INTO audit_events (seq, at, actor, action, subject, details, refs, prev_hash, hash, body)
       VALUES (14, $1, 'mallory', 'x', 'x', '{}', '{}', 'h12', 'h14', $2)`,
      [at(11).toISOString(), strayBody(14)],
    );
    await assert.rejects(
      sql.query(`UPDATE audit_head SET seq = 14, hash = 'h14'`),
      /audit_head only moves forward/,
    );
    await sql.query(`UPDATE audit_head SET seq = 11, hash = 'h11'`);
  });
});
