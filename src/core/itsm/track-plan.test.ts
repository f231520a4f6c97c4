import assert from 'node:assert/strict';
import { test } from 'node:test';
import { harness } from '../../testing/harness.js';
import { TICKET_ACTIONS } from './messages.js';
import { TRACK_BATCH, TRACK_SQL } from './writeback.js';

const TICKETS = 100_000;

test('the write-back tracker finds the tickets of a batch of events by probing the ticket and request indexes, even when the tickets have grown far past the statistics the planner has', async () => {
  const h = await harness({ people: false });
  try {
    const { sql } = h.store;
    const requests = (from: number, to: number) =>
      sql.query(
        `INSERT INTO requests (id, requester, beneficiary, entitlement, justification, status, decision, created_at)
         SELECT 'req_plan' || g, 'p' || g || '@acme.test', 'p' || g || '@acme.test', 'wiki:read', 'x',
                'approved', '{}', now()
           FROM generate_series($1::int, $2::int) g`,
        [from, to],
      );
    const tickets = (from: number, to: number) =>
      sql.query(
        `INSERT INTO itsm_tickets (ticket, integration, key, request_id, created_at, updated_at)
         SELECT 'JIRA:ITSM-' || g, 'jira', 'ITSM-' || g, 'req_plan' || g, now(), now()
           FROM generate_series($1::int, $2::int) g`,
        [from, to],
      );
    // Statistics taken while the integration was new: a handful of tickets.
    await requests(1, 10);
    await tickets(1, 10);
    await sql.query('ANALYZE');
    await requests(11, TICKETS);
    await tickets(11, TICKETS);

    // The statement runs in the tracker's transaction unprepared, but a driver may prepare it:
    // the generic plan, made without the cursor's values, must hold too.
    for (const mode of ['force_custom_plan', 'force_generic_plan']) {
      const plan = await sql.transaction(async (tx) => {
        await tx.query(`SET LOCAL plan_cache_mode = ${mode}`);
        const rows = await tx.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${TRACK_SQL}`, [
          0,
          TRACK_BATCH,
          TICKET_ACTIONS,
        ]);
        return rows.map((r) => r['QUERY PLAN']).join('\n');
      });
      // Per event: the ticket key and the request index, probed for the three ways an event
      // names a ticket; never a scan of the tickets, nor a hash of all of them.
      assert.match(
        plan,
        /Index Scan on itsm_tickets_pkey\s+(\(.*\))?\s*Index Cond: \(ticket = e\.subject\)/,
        plan,
      );
      assert.match(
        plan,
        /Index Scan on itsm_tickets_request\s+(\(.*\))?\s*Index Cond: \(request_id = e\.subject\)/,
        plan,
      );
      assert.match(plan, /Index Cond: \(request_id = ANY \(e\.refs\)\)/, plan);
      assert.doesNotMatch(plan, /Seq Scan on itsm_tickets/, plan);
    }
  } finally {
    await h.close();
  }
});
