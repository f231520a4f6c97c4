import { test } from 'node:test';
import assert from 'node:assert/strict';
import { accessDecideInput, recordDecision, submitRequest } from '../requests/submit.js';
import { decide } from './decide.js';
import { migrate } from '../../store/migrate.js';
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

test('a request that loses the one-live-request index is recorded as a duplicate, not an internal error', async () => {
  const store = await testStore();
  try {
    const { sql } = store;
    const catalog = await seedDemo(sql, AT);
    // Decided before the first request exists, as a racing node would have: pending approval.
    const di = await accessDecideInput(sql, catalog, ASK, false);
    const plan = await decide(sql, catalog, AT, di);
    assert.equal(plan.status, 'pending_approval');
    const first = (await submitRequest(sql, catalog, AT, ASK)).id;

    const second = await sql.transaction((tx) => recordDecision(tx, catalog, AT, di, plan));
    const rows = await sql.query<{ id: string; status: string; code: string }>(
      `SELECT id, status, decision->'reasons'->0->>'code' AS code FROM requests ORDER BY created_at, id`,
    );
    const byId = new Map(rows.map((r) => [r.id, r]));
    assert.equal(byId.get(first)?.status, 'pending_approval');
    assert.deepEqual(
      { status: byId.get(second)?.status, code: byId.get(second)?.code },
      { status: 'rejected', code: 'duplicate' },
    );
    const stages = await sql.query('SELECT 1 FROM approval_stages WHERE request_id = $1', [second]);
    assert.deepEqual(stages, [], 'the duplicate has no approval stages');
  } finally {
    await store.close();
  }
});

test('migration 005 keeps the oldest of live duplicate requests and closes the later ones', async () => {
  const store = await testStore();
  try {
    const { sql } = store;
    // The store as it was before 005, holding the duplicates the race used to leave.
    await sql.query('DROP INDEX requests_one_live');
    await sql.query(
      `CREATE INDEX requests_pending ON requests (beneficiary, entitlement) WHERE status = 'pending_approval'`,
    );
    await sql.query('DELETE FROM schema_migrations WHERE version = 5');
    const insert = (id: string, minutes: number) =>
      sql.query(
        `INSERT INTO requests (id, requester, beneficiary, entitlement, justification, status, decision, created_at)
         VALUES ($1, 'bob@acme.test', 'bob@acme.test', 'analytics:writer', 'why', 'pending_approval', $2, $3)`,
        [
          id,
          JSON.stringify({ outcome: 'needs_approval', reasons: [{ code: 'approval_required' }] }),
          new Date(AT.getTime() + minutes * 60_000),
        ],
      );
    await insert('req_b', 1);
    await insert('req_a', 0);
    await insert('req_c', 2);

    assert.equal(await migrate(sql), 1);
    const rows = await sql.query<{ id: string; status: string; codes: string[] }>(
      `SELECT id, status, ARRAY(SELECT jsonb_array_elements(decision->'reasons')->>'code') AS codes
         FROM requests ORDER BY id`,
    );
    assert.deepEqual(rows, [
      { id: 'req_a', status: 'pending_approval', codes: ['approval_required'] },
      { id: 'req_b', status: 'cancelled', codes: ['approval_required', 'duplicate'] },
      { id: 'req_c', status: 'cancelled', codes: ['approval_required', 'duplicate'] },
    ]);
    // From now on the store itself refuses a second live one.
    await assert.rejects(insert('req_d', 3), /duplicate key|unique/);
  } finally {
    await store.close();
  }
});
