import assert from 'node:assert/strict';
import { test } from 'node:test';
import { auditedTransaction } from '../audit/chain.js';
import { verifyAudit } from '../audit/verify.js';
import { CatalogCache } from '../catalog/catalog.js';
import { decide } from '../decision/decide.js';
import type { Sql } from '../sql.js';
import { accessDecideInput, recordDecision, submitRequest } from './submit.js';
import { seedDemo } from '../../testing/demo-store.js';
import { testStore } from '../../store/test-store.js';

const AT = new Date('2026-03-02T09:00:00.000Z');
const ASK = {
  requester: 'bob@acme.test',
  beneficiary: 'bob@acme.test',
  entitlement: 'analytics:writer',
  justification: 'needed for the quarterly close',
  via: 'api' as const,
};

/** The demo on a fresh store, and every statement text sent through `sql` from here on. */
async function demo(fn: (sql: Sql, sent: string[], catalog: CatalogCache) => Promise<void>) {
  const store = await testStore();
  try {
    await seedDemo(store.sql, AT);
    const catalog = new CatalogCache();
    const sent: string[] = [];
    const watched = (sql: Sql): Sql => ({
      query: (text, params) => {
        sent.push(text.replace(/\s+/g, ' ').trim());
        return sql.query(text, params);
      },
      transaction: (f) => sql.transaction((tx) => f(watched(tx))),
    });
    await fn(watched(store.sql), sent, catalog);
  } finally {
    await store.close();
  }
}

const chained = (sql: Sql, subject: string) =>
  sql.query<{ action: string; seq: number }>(
    `SELECT action, seq FROM audit_events WHERE subject = $1 ORDER BY seq`,
    [subject],
  );

test('a request needing approval stages its audit events in its own INSERT, chained in order once it returns', () =>
  demo(async (sql, sent, catalog) => {
    const v = await submitRequest(sql, await catalog.get(sql), AT, ASK);
    assert.equal(v.status, 'pending_approval');
    assert.ok(
      sent.some(
        (t) => t.startsWith('WITH r AS ( INSERT INTO requests') && t.includes('audit_stage'),
      ),
      'the request and its events in one statement',
    );
    assert.ok(
      !sent.some((t) => t.startsWith('WITH audit_batch')),
      'no statement of their own for the events',
    );
    const events = await chained(sql, v.id);
    assert.deepEqual(
      events.map((e) => e.action),
      ['request.submitted', 'request.decided'],
    );
    assert.equal(events[1]!.seq, events[0]!.seq + 1);
    assert.deepEqual(await sql.query('SELECT 1 FROM audit_stage'), [], 'nothing left staged');
    assert.equal((await verifyAudit(sql)).ok, true);
  }));

test('a request that loses the one-live-request index records the duplicate, not the events of the plan it lost', () =>
  demo(async (sql, _sent, cache) => {
    const catalog = await cache.get(sql);
    // Decided before the first request exists, as a racing node would have: pending approval.
    const di = await accessDecideInput(sql, catalog, ASK, false);
    const plan = await decide(sql, catalog, AT, di);
    assert.equal(plan.status, 'pending_approval');
    await submitRequest(sql, catalog, AT, ASK);
    const second = await auditedTransaction(sql, (tx) =>
      recordDecision(tx, catalog, AT, di, plan, { endsTransaction: true }),
    );
    const [decided] = await sql.query<{ status: string; code: string }>(
      `SELECT details->>'status' AS status, details->'decision'->'reasons'->0->>'code' AS code
         FROM audit_events WHERE subject = $1 AND action = 'request.decided'`,
      [second],
    );
    assert.deepEqual(decided, { status: 'rejected', code: 'duplicate' });
    assert.equal((await chained(sql, second)).length, 2, 'submitted and decided, once each');
    assert.equal((await verifyAudit(sql)).ok, true);
  }));

test('a request approved at once goes in with its grant, its job and every event in one statement', () =>
  demo(async (sql, sent, catalog) => {
    const v = await submitRequest(sql, await catalog.get(sql), AT, {
      ...ASK,
      entitlement: 'analytics:reader',
      duration: 3600,
    });
    assert.equal(v.status, 'approved');
    const writes = sent.filter((t) => /INSERT INTO/.test(t));
    assert.equal(writes.length, 1, 'one write statement');
    assert.ok(
      [
        'INSERT INTO requests',
        'INSERT INTO grants',
        'INSERT INTO jobs',
        'INSERT INTO audit_stage',
      ].every((part) => writes[0]!.includes(part)),
    );
    const [grant] = await chained(sql, v.grant!.id);
    const events = await chained(sql, v.id);
    assert.deepEqual(
      events.map((e) => e.action),
      ['request.submitted', 'request.decided'],
    );
    assert.equal(grant?.action, 'grant.created');
    assert.equal(grant.seq, events[1]!.seq + 1, "the grant's event right after the decision");
    const [job] = await sql.query<{ kind: string; state: string }>(
      'SELECT kind, state FROM jobs WHERE subject = $1',
      [v.grant!.id],
    );
    assert.deepEqual(job, { kind: 'grant.apply', state: 'pending' });
    assert.equal((await verifyAudit(sql)).ok, true);
  }));
