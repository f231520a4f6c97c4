import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { harness } from '../../testing/harness.js';
import type { Sql } from '../sql.js';

/** The counts kept by migration 020's triggers (groups, holders, seats), and the same counts from scratch. */
async function countsAndRecount(sql: Sql) {
  const kept = await sql.query<{ k: string; n: string }>(
    `SELECT 'm ' || peer_group AS k, members::text AS n FROM peer_members WHERE members <> 0
     UNION ALL
     SELECT 'h ' || peer_group || ' ' || entitlement, sum(holders)::text FROM peer_holders
      GROUP BY peer_group, entitlement HAVING sum(holders) <> 0
     UNION ALL
     SELECT 'e ' || entitlement, sum(holders)::text FROM entitlement_holders
      GROUP BY entitlement HAVING sum(holders) <> 0
     ORDER BY 1`,
  );
  const fresh = await sql.query<{ k: string; n: string }>(
    `SELECT 'm ' || peer_group(kind, department, title, owner) AS k, count(*)::text AS n
       FROM identities WHERE status = 'active' GROUP BY 1
     UNION ALL
     SELECT 'h ' || peer_group(i.kind, i.department, i.title, i.owner) || ' ' || g.entitlement, count(*)::text
       FROM grants g JOIN identities i ON i.id = g.identity
      WHERE grant_is_live(g.state) AND i.status = 'active' GROUP BY peer_group(i.kind, i.department, i.title, i.owner), g.entitlement
     UNION ALL
     SELECT 'e ' || entitlement, count(*)::text FROM grants WHERE grant_is_live(state) GROUP BY entitlement
     ORDER BY 1`,
  );
  return { kept: kept.map((r) => `${r.k} = ${r.n}`), fresh: fresh.map((r) => `${r.k} = ${r.n}`) };
}

const person = (n: number, dept: string, title: string, status = 'active') =>
  `('p${n}@acme.test', 'human', '${status}', 'P${n}', '${dept}', '${title}', '', '', '{}', 'test', now(), now())`;
const account = (n: number, kind: string, owner: string) =>
  `('nhi${n}', '${kind}', 'active', 'N${n}', 'eng', '', '', '${owner}', '{}', 'test', now(), now())`;
const grant = (id: string, identity: string, ent: string, state = 'active') =>
  `('${id}', '${identity}', '${ent}', 'wiki', '${identity}', 'request', '${state}', 3600, now(), now(), now() + interval '1 day', now())`;
const IDENTITY_COLS =
  'INSERT INTO identities (id, kind, status, display_name, department, title, manager, owner, attributes, source, created_at, updated_at) VALUES ';
const GRANT_COLS =
  'INSERT INTO grants (id, identity, entitlement, app, owner, trigger, state, duration, created_at, granted_at, expires_at, verified_at) VALUES ';

test('the per-group role-fit counts stay equal to a count from scratch through grants given, revoked, restored and deleted, and identities that join, move, leave, change owner and go', async () => {
  const h = await harness({ people: false });
  try {
    const { sql } = h.store;
    const check = async (step: string) => {
      const { kept, fresh } = await countsAndRecount(sql);
      assert.deepEqual(kept, fresh, `after ${step}`);
    };
    await sql.query(
      IDENTITY_COLS +
        [
          person(1, 'eng', 'dev'),
          person(2, 'eng', 'dev'),
          person(3, 'eng', 'dev'),
          person(4, 'eng', 'lead'),
          person(5, 'ops', 'dev', 'suspended'),
          account(1, 'service_account', 'p1@acme.test'),
          account(2, 'service_account', 'p1@acme.test'),
          account(3, 'api_key', 'p1@acme.test'),
          account(4, 'service_account', 'p2@acme.test'),
        ].join(', '),
    );
    await check('identities joined');
    await sql.query(
      GRANT_COLS +
        [
          grant('g1', 'p1@acme.test', 'wiki:read'),
          grant('g2', 'p2@acme.test', 'wiki:read'),
          grant('g3', 'p3@acme.test', 'wiki:edit', 'provisioning'),
          grant('g4', 'p5@acme.test', 'wiki:read'),
          grant('g5', 'nhi1', 'wiki:read'),
          grant('g6', 'nhi2', 'wiki:read', 'failed'),
          grant('g7', 'ghost@acme.test', 'wiki:read'),
        ].join(', '),
    );
    await check(
      'grants given in one statement (one not live, one to an inactive person, one to nobody)',
    );
    const [fit] = await sql.query<{ fit: { peers: number; holding: number } }>(
      `WITH b AS (SELECT * FROM identities WHERE id = 'p3@acme.test') SELECT json_build_object(
         'peers', (SELECT members FROM peer_members WHERE peer_group = peer_group(b.kind, b.department, b.title, b.owner)),
         'holding', (SELECT sum(holders) FROM peer_holders WHERE peer_group = peer_group(b.kind, b.department, b.title, b.owner) AND entitlement = 'wiki:read')) AS fit FROM b`,
    );
    assert.deepEqual(
      { peers: Number(fit?.fit.peers), holding: Number(fit?.fit.holding) },
      { peers: 3, holding: 2 },
    );

    await sql.query(`UPDATE grants SET verified_at = now()`);
    await check('an update that changes no grant between live and not live');
    await sql.query(`UPDATE grants SET state = 'revoked' WHERE id IN ('g1', 'g5')`);
    await check('two grants revoked');
    await sql.query(`UPDATE grants SET state = 'active' WHERE id IN ('g6')`);
    await sql.query(`UPDATE grants SET state = 'revoking' WHERE id IN ('g2')`);
    await check('a failed grant restored, one revocation started (still live)');
    await sql.query(`UPDATE grants SET state = CASE WHEN id = 'g3' THEN 'failed' ELSE state END`);
    await check('one statement changing one of many rows');
    await sql.query(GRANT_COLS + grant('g8', 'p4@acme.test', 'wiki:read'));
    await sql.query(`UPDATE identities SET title = 'dev' WHERE id = 'p4@acme.test'`);
    await check('a mover with a live grant');
    await sql.query(
      `UPDATE identities SET department = 'ops', status = 'active' WHERE id = 'p5@acme.test'`,
    );
    await sql.query(`UPDATE identities SET status = 'terminated' WHERE id = 'p2@acme.test'`);
    await check('a returner and a leaver');
    await sql.query(`UPDATE identities SET owner = 'p2@acme.test' WHERE id IN ('nhi1', 'nhi2')`);
    await sql.query(`UPDATE identities SET kind = 'workload' WHERE id = 'nhi4'`);
    await check('non-human identities given another owner, and one another kind');
    await sql.query(`UPDATE identities SET display_name = 'renamed', manager = 'p1@acme.test'`);
    await check('an update of every identity that changes no group');
    await sql.query(IDENTITY_COLS + person(9, 'eng', 'dev').replace('p9@', 'ghost@'));
    await check('an identity that joins with a grant already recorded');
    await sql.query(`DELETE FROM grants WHERE id IN ('g8', 'g4')`);
    await sql.query(`DELETE FROM identities WHERE id = 'p3@acme.test'`);
    await check('grants and an identity deleted');
    await sql.query(
      `INSERT INTO identities (id, kind, status, display_name, department, title, manager, owner, attributes, source, created_at, updated_at)
       VALUES ('p3@acme.test', 'human', 'active', 'P3', 'eng', 'lead', '', '', '{}', 'test', now(), now()),
              ('p1@acme.test', 'human', 'active', 'P1', 'ops', 'dev', '', '', '{}', 'test', now(), now())
       ON CONFLICT (id) DO UPDATE SET department = EXCLUDED.department, title = EXCLUDED.title`,
    );
    await check('an upsert that inserts one identity and moves another');
    await sql.query(`TRUNCATE grants CASCADE`);
    await check('grants truncated');
  } finally {
    await h.close();
  }
});

test('a grant written while its holder moves to another peer group is counted in the group the holder ends in, whichever commits first', async (t) => {
  const h = await harness({ people: false });
  try {
    if (h.store.kind !== 'server') {
      t.skip('concurrent transactions need the PostgreSQL server (PGlite has one connection)');
      return;
    }
    const { sql } = h.store;
    await sql.query(IDENTITY_COLS + [person(1, 'eng', 'dev'), person(2, 'eng', 'dev')].join(', '));
    const a = new pg.Client({ connectionString: h.store.location });
    const b = new pg.Client({ connectionString: h.store.location });
    await a.connect();
    await b.connect();
    try {
      for (const [n, first] of [
        [1, 'move'],
        [2, 'grant'],
      ] as const) {
        const id = `p${n}@acme.test`;
        const move = `UPDATE identities SET department = 'sales' WHERE id = '${id}'`;
        const give = GRANT_COLS + grant(`gc${n}`, id, 'wiki:read');
        const [one, two] = first === 'move' ? [move, give] : [give, move];
        await a.query('BEGIN');
        await a.query(one);
        await b.query('BEGIN');
        const waiting = b.query(two).then(() => b.query('COMMIT'));
        // The second statement waits on the identity's row until the first transaction commits.
        for (;;) {
          const [w] = (
            await sql.query<{ n: string }>(
              `SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`,
            )
          ).map((r) => Number(r.n));
          if (w! > 0) break;
          await new Promise((r) => setTimeout(r, 10));
        }
        await a.query('COMMIT');
        await waiting;
        const { kept, fresh } = await countsAndRecount(sql);
        assert.deepEqual(kept, fresh, `${first} first`);
        assert.ok(
          kept.some((k) => k.startsWith('h human:5:salesdev wiki:read')),
          kept.join('\n'),
        );
      }
    } finally {
      await a.end();
      await b.end();
    }
  } finally {
    await h.close();
  }
});
