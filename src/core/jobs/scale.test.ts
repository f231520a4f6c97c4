import assert from 'node:assert/strict';
import { test } from 'node:test';
import { harness } from '../../testing/harness.js';
import { LEASE_PLANNER, LEASE_SQL } from './queue.js';
import { EXPIRY_BATCH, EXPIRY_SQL } from './sweep.js';

const HISTORY = 10_000;
const DUE = 2 * EXPIRY_BATCH + 50;

/** The plan PostgreSQL picks for a statement, as text (no ANALYZE: nothing is timed). */
async function plan(
  sql: { query<T>(t: string, p?: unknown[]): Promise<T[]> },
  text: string,
  params: unknown[],
) {
  const rows = await sql.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${text}`, params);
  return rows.map((r) => r['QUERY PLAN']).join('\n');
}

test('with more than 10,000 grants and their finished jobs on the store, expiry hands every due grant to a verified revocation, and the runtime queries are served by their indexes', async (t) => {
  const h = await harness();
  try {
    const { sql } = h.store;
    const now = new Date(h.now);
    // History, written in bulk as years of use would leave it: revoked grants and done jobs.
    await sql.query(
      `INSERT INTO grants (id, identity, entitlement, app, owner, trigger, state, duration, created_at,
         granted_at, expires_at, verified_at, revoke_trigger, revoked_at, revocation_latency_seconds)
       SELECT 'grt_hist' || i, 'hist' || i || '@acme.test', 'wiki:read', 'wiki', 'hist' || i || '@acme.test',
         'request', 'revoked', 3600, $1::timestamptz - interval '30 days', $1::timestamptz - interval '30 days',
         $1::timestamptz - interval '29 days', $1::timestamptz - interval '29 days', 'expiry',
         $1::timestamptz - interval '29 days', 5
       FROM generate_series(1, $2::int) AS i`,
      [now, HISTORY],
    );
    await sql.query(
      `INSERT INTO jobs (kind, payload, subject, queue, state, due_at, attempts, lease_owner, created_at, done_at)
       SELECT k, jsonb_build_object('grant_id', 'grt_hist' || i), 'grt_hist' || i, 'acme-db', 'done',
         $1::timestamptz - interval '30 days', 1, 'old-worker', $1::timestamptz - interval '30 days', $1::timestamptz - interval '29 days'
       FROM generate_series(1, $2::int) AS i, unnest(ARRAY['grant.apply', 'grant.revoke']) AS k`,
      [now, HISTORY],
    );
    // Grants due at one instant, an hour ago, for accounts the target does not hold.
    await sql.query(
      `INSERT INTO grants (id, identity, entitlement, app, owner, trigger, state, duration, created_at,
         granted_at, expires_at, verified_at)
       SELECT 'grt_due' || i, 'due' || i || '@acme.test', 'wiki:read', 'wiki', 'due' || i || '@acme.test',
         'request', 'active', 3600, $1::timestamptz - interval '2 hours', $1::timestamptz - interval '2 hours',
         $1::timestamptz - interval '1 hour', $1::timestamptz - interval '2 hours'
       FROM generate_series(1, $2::int) AS i`,
      [now, DUE],
    );
    const [count] = await sql.query<{ n: number | string }>('SELECT count(*) AS n FROM grants');
    assert.ok(Number(count?.n) > HISTORY, `${count?.n} grants on the store`);

    const started = Date.now();
    const s = await h.cli(['sweep']);
    t.diagnostic(`${DUE} due grants expired and revoked in ${Date.now() - started} ms`);
    assert.equal(s.code, 0, s.stderr);
    assert.equal(s.json.expired, DUE);
    assert.equal(s.json.jobs_done, DUE);
    const rows = await sql.query<{ state: string; latency: number; n: number | string }>(
      `SELECT state, revocation_latency_seconds AS latency, count(*) AS n FROM grants
        WHERE id LIKE 'grt_due%' GROUP BY 1, 2`,
    );
    assert.deepEqual(
      rows.map((r) => ({ ...r, n: Number(r.n) })),
      [{ state: 'revoked', latency: 3600, n: DUE }],
      'every due grant revoked, its latency from when it was due',
    );
    const open = await sql.query(`SELECT id FROM jobs WHERE state = 'pending'`);
    assert.deepEqual(open, [], 'nothing left in the queue');

    // Plans on whatever statistics the store has (the sweep analyzes the grants as they grow,
    // ADR 0055, so these may have been taken after the burst, with no grant active): each
    // runtime query walks its partial index in order and stops at its limit, never the finished
    // history, and never collects a whole burst to sort it.
    const expiry = await sql.transaction(async (tx) => {
      await tx.query(LEASE_PLANNER);
      return plan(tx, EXPIRY_SQL, [now, EXPIRY_BATCH]);
    });
    assert.match(expiry, /Index Scan using grants_expiry_page/, expiry);
    assert.doesNotMatch(expiry, /Sort|Seq Scan/, expiry);
    // A burst of due jobs, as expiry leaves it: the lease still takes the oldest few by index.
    await sql.query(
      `INSERT INTO jobs (kind, payload, subject, queue, due_at, created_at)
       SELECT 'grant.revoke', '{}', 'grt_burst' || i, 'acme-db', $1::timestamptz - interval '1 minute', $1
         FROM generate_series(1, $2::int) AS i`,
      [now, 3 * EXPIRY_BATCH],
    );
    const lease = await sql.transaction(async (tx) => {
      await tx.query(LEASE_PLANNER);
      return plan(tx, LEASE_SQL, [now, [], 64]);
    });
    assert.match(lease, /Index Scan using jobs_due/, lease);
    assert.match(lease, /jobs_subject/, lease);
    assert.doesNotMatch(lease, /Sort|Seq Scan|Bitmap/, lease);
    await sql.query(`DELETE FROM jobs WHERE subject LIKE 'grt_burst%'`);
    const depth = await plan(
      sql,
      `SELECT kind, count(*) FROM jobs WHERE state = 'pending' GROUP BY kind`,
      [],
    );
    assert.doesNotMatch(depth, /Seq Scan/, depth);
  } finally {
    await h.close();
  }
});
