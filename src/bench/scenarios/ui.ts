import { openSync, closeSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { performance } from 'node:perf_hooks';
import Fastify from 'fastify';
import { appOn } from '../../cli/context.js';
import { connectorSource } from '../../connectors/registry.js';
import { CatalogCache } from '../../core/catalog/catalog.js';
import { encodeCursor, instantKey } from '../../core/paging.js';
import type { Sql } from '../../core/sql.js';
import { buildServer } from '../../http/server.js';
import { migrationFiles } from '../../store/migrate.js';
import {
  type Scenario,
  type ScenarioResult,
  GcWatch,
  RssWatch,
  pct,
  round,
  timeEach,
} from '../suite/measure.js';
import { benchApp } from '../suite/app.js';
import { RequestDrawer } from './draw.js';

/**
 * The web UI's pages at the world's size (issue 12: who has what and the approver inbox under
 * 300 ms a page), measured as the browser fetches them: the same API calls with the same query
 * parameters the pages send (ui/src/pages/Access.tsx, Inbox.tsx, App.tsx's /me), sent at once
 * with a person's session cookie to the real server (serve's buildServer) over loopback HTTP, a
 * page timed until its last answer. Baseline: a bare Fastify route in the same process answering
 * `SELECT * FROM grants ORDER BY created_at, id LIMIT 26` through the same pool, fetched the same
 * way. Before measuring, the store gets what a live one has beside its grants: grants failed,
 * revoke_failed and revoking (the red "needs attention" list), closed requests, and pending ones
 * spread over approvers with more than a page on one manager; all in bulk, then no ANALYZE.
 */

/** The calls of each page as the UI sends them (paths and query strings exactly). */
const TROUBLE = ['revoke_failed', 'failed', 'revoking'];
const NHI_KINDS = ['service_account', 'api_key', 'workload', 'ai_agent'];
const qs = (q: Record<string, string>) => new URLSearchParams(q).toString();
const grantsCall = (f: Record<string, string>) => `/api/v1/grants?${qs({ ...f, limit: '25' })}`;
const troubleCalls = (f: Record<string, string>) =>
  TROUBLE.map((state) => `/api/v1/grants?${qs({ ...f, state, limit: '50' })}`);
const accessPage = (f: Record<string, string> = {}) => [
  '/api/v1/me',
  grantsCall(f),
  ...troubleCalls(f),
  ...NHI_KINDS.map((kind) => `/api/v1/identities?${qs({ kind, limit: '100' })}`),
];

const TARGET_MS = 300;

export const uiScenario: Scenario = {
  name: 'ui',
  usesWorld: true,
  async run({ profile, world, store, say }) {
    const sql = store.sql;
    const t0 = performance.now();
    const setup = await seedLiveStore(sql, world, profile.grants);
    say(
      `ui: ${setup.trouble} grants failed/revoke_failed/revoking, ${setup.closed} closed and ${setup.pending} pending requests ` +
        `(${setup.mine} waiting on ${setup.manager}) added in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );

    const catalog = new CatalogCache();
    const connectors = connectorSource(async () => undefined, { env: {}, dataDir: '/nonexistent' });
    const app = await appOn(sql, catalog, connectors, { env: {}, cwd: tmpdir() }, undefined);
    const devnull = openSync('/dev/null', 'w');
    const server = await buildServer(app, {
      schemaVersion: migrationFiles().at(-1)?.version ?? 0,
      onInternalError: (id, e) => process.stderr.write(`request ${id} failed: ${String(e)}\n`),
      log: { stream: { write: (line) => void writeSync(devnull, line) } },
      rateLimits: { apiPerToken: 1e9, apiPerAddress: 1e9 },
      signIn: { env: {}, cookieSecure: false },
    });
    const bare = Fastify({ logger: false });
    bare.get('/bare', async () => ({
      grants: await sql.query('SELECT * FROM grants ORDER BY created_at, id LIMIT 26'),
    }));
    try {
      const base = await server.listen({ port: 0, host: '127.0.0.1' });
      const bareBase = await bare.listen({ port: 0, host: '127.0.0.1' });
      const auditor = world.groups.find((g) => g.id === 'governance')!.members[0]!;
      const cookieOf = async (who: string) =>
        `gatehouse_session=${(await app.sessions.open({ claimed: who, method: 'demo', lifetimeSeconds: 8 * 3600 })).cookie}`;
      const asAuditor = await cookieOf(auditor);
      const asManager = await cookieOf(setup.manager);
      const get = async (path: string, cookie: string, base_ = base) => {
        const res = await fetch(base_ + path, { headers: { cookie } });
        const body = await res.text();
        if (res.status !== 200)
          throw new Error(`ui: GET ${path} answered ${res.status}: ${body.slice(0, 300)}`);
        return body;
      };
      /** A page: its calls at once, as the browser sends them; timed until the last answer. */
      const page = (paths: string[], cookie: string) => ({ paths, cookie });
      const n = profile.uiSamples;

      const deepCursor = await midCursor(sql);
      const popular = popularEntitlement(world);
      const pages: [string, string, { paths: string[]; cookie: string }][] = [
        [
          'ui-access',
          'who has what, first page, as governance (sees every grant)',
          page(accessPage(), asAuditor),
        ],
        [
          'ui-access-deep',
          "who has what, Next page from the middle of the grants (the page's one call)",
          page([`/api/v1/grants?${qs({ cursor: deepCursor, limit: '25' })}`], asAuditor),
        ],
        [
          'ui-access-filter',
          `who has what filtered by the most held entitlement (${popular}), with its red list`,
          page(
            [grantsCall({ entitlement: popular }), ...troubleCalls({ entitlement: popular })],
            asAuditor,
          ),
        ],
        [
          'ui-access-trouble',
          'the red list alone: failed, revoke_failed and revoking first',
          page(troubleCalls({}), asAuditor),
        ],
        [
          'ui-access-person',
          `who has what, first page, as a manager without audit (${setup.manager}: own, reports', owned apps')`,
          page(accessPage(), asManager),
        ],
        [
          'ui-inbox',
          `the approver inbox of ${setup.manager} (${setup.mine} waiting), with /me and the catalog`,
          page(
            [
              '/api/v1/me',
              `/api/v1/requests?${qs({ approver: setup.manager, status: 'pending_approval', limit: '100' })}`,
              '/api/v1/catalog',
            ],
            asManager,
          ),
        ],
      ];
      const warm = Math.min(20, n);
      const baseline = await timeEach(n, () => get('/bare', '', bareBase), warm);
      const baseP99 = pct(baseline, 99);
      const out: Record<string, ScenarioResult> = {};
      for (const [name, what, { paths, cookie }] of pages) {
        const watch = new RssWatch();
        const gc = new GcWatch();
        const xs = await timeEach(n, () => Promise.all(paths.map((p) => get(p, cookie))), warm);
        const pauses = gc.stop();
        const rss = watch.stop();
        // Where a page's time goes: each of its calls alone, median of a few.
        const calls: Record<string, number> = {};
        for (const p of paths)
          calls[p] = round(pct(await timeEach(Math.min(n, 10), () => get(p, cookie), 1), 50), 2);
        const p99 = pct(xs, 99);
        out[name] = {
          value: round(p99, 2),
          unit: 'ms p99 per page',
          baseline: round(baseP99, 2),
          baseline_of:
            'bare Fastify route: SELECT * FROM grants ORDER BY created_at, id LIMIT 26, same pool, p99',
          ratio: round(p99 / baseP99, 2),
          target: `< ${TARGET_MS} ms per page`,
          pass: p99 < TARGET_MS,
          peak_rss_mb: rss.peak_mb,
          detail: {
            page: what,
            samples: n,
            p50_ms: round(pct(xs, 50), 2),
            baseline_p50_ms: round(pct(baseline, 50), 2),
            grants: profile.grants,
            calls_alone_p50_ms: calls,
            max_ms: round(Math.max(...xs), 2),
            gc_while_sampled: pauses,
          },
        };
      }
      return out;
    } finally {
      await server.close();
      await bare.close();
      closeSync(devnull);
    }
  },
};

/** The entitlement most grants are of: the heaviest filter the page can be given. */
function popularEntitlement(world: Parameters<Scenario['run']>[0]['world']): string {
  const counts = new Int32Array(world.entitlements.length);
  for (let k = 0; k < world.grants.length; k++) counts[world.grants.entitlement[k]!]!++;
  let best = 0;
  for (let i = 1; i < counts.length; i++) if (counts[i]! > counts[best]!) best = i;
  return world.entitlements[best]!.id;
}

/** The cursor "Next page" carries halfway through the grants, as the server encodes it. */
async function midCursor(sql: Sql): Promise<string> {
  const [{ n }] = (await sql.query<{ n: string }>('SELECT count(*) AS n FROM grants')) as [
    { n: string },
  ];
  const [row] = await sql.query<{ at: string; id: string }>(
    `SELECT ${instantKey('created_at')} AS at, id FROM grants ORDER BY created_at, id OFFSET $1 LIMIT 1`,
    [Math.floor(Number(n) / 2)],
  );
  return encodeCursor('grants', [row!.at, row!.id]);
}

/**
 * What a live store holds beside its grants, in bulk: one grant in 300 of each trouble state, a
 * closed request per 10 grants and a pending one per 50, cloned from one real pending request
 * (so decisions have their real shape), spread over approvers, 150 of them on one manager.
 */
export async function seedLiveStore(
  sql: Sql,
  world: Parameters<Scenario['run']>[0]['world'],
  grants: number,
) {
  let trouble = 0;
  for (const [k, state] of TROUBLE.entries()) {
    const rows = await sql.query<{ id: string }>(
      `UPDATE grants SET state = $1, failure = $2,
              revoke_requested_at = CASE WHEN $1 = 'failed' THEN NULL ELSE granted_at END
        WHERE state = 'active' AND id IN (SELECT 'grt_bench' || g FROM generate_series($3::int, $4::int, 300) g)
        RETURNING id`,
      [state, state === 'revoking' ? null : 'bench: the target refused', 100 + k, grants - 1],
    );
    trouble += rows.length;
  }
  // One real request the manager stage holds: the template every cloned request copies.
  const app = benchApp(sql);
  const drawer = new RequestDrawer(world, 404, true);
  let template: { id: string; beneficiary: string } | undefined;
  for (let i = 0; i < 500 && !template; i++) {
    const input = drawer.next().input;
    if (!input.beneficiary.endsWith('@bench.test')) continue;
    const r = await app.request(input);
    if (r.status === 'pending_approval') template = { id: r.id, beneficiary: input.beneficiary };
  }
  if (!template) throw new Error('ui: no drawn request waited for approval to copy');
  // The manager with the most direct reports: their inbox holds more than one page.
  const reports = new Map<string, number>();
  for (const p of world.identities.slice(0, world.people))
    if (p.manager) reports.set(p.manager, (reports.get(p.manager) ?? 0) + 1);
  const manager = [...reports].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0]![0];
  const people = world.people;
  const ents = world.entitlements.map((e) => e.id);
  const pending = Math.max(200, Math.floor(grants / 50));
  const closed = Math.floor(grants / 10);
  const mine = 150;
  // Pending (beneficiary, entitlement) pairs are unique; a clash with a live one is skipped.
  await sql.query(
    `INSERT INTO requests (id, requester, beneficiary, entitlement, justification, duration, ticket,
                           emergency, kind, status, decision, created_at, lapses_at, closed_at)
     SELECT 'req_ui' || g, b, b, ($3::text[])[1 + (g / $4::int) % array_length($3::text[], 1)],
            t.justification, t.duration, t.ticket, false, 'access',
            CASE WHEN g < $5::int THEN 'pending_approval' ELSE 'approved' END, t.decision,
            t.created_at - (g || ' seconds')::interval,
            CASE WHEN g < $5::int THEN t.lapses_at END,
            CASE WHEN g < $5::int THEN NULL ELSE t.created_at END
       FROM requests t, generate_series(0, $2::int - 1) g,
            LATERAL (SELECT 'p' || (1 + g % ($4::int - 1)) || '@bench.test' AS b) who
      WHERE t.id = $1
     ON CONFLICT DO NOTHING`,
    [template.id, pending + closed, ents, people, pending],
  );
  await sql.query(
    `INSERT INTO approval_stages (request_id, idx, rule, approvers, min_approvals, fallback, state)
     SELECT r.id, 0, 'manager',
            ARRAY[CASE WHEN g < $1::int THEN $2::text ELSE 'p' || (1 + (g * 7) % ($3::int - 1)) || '@bench.test' END],
            1, false, CASE WHEN r.status = 'pending_approval' THEN 'pending' ELSE 'approved' END
       FROM requests r, LATERAL (SELECT substr(r.id, 7)::int AS g) n
      WHERE r.id LIKE 'req\\_ui%'`,
    [mine, manager, people],
  );
  const [{ n }] = (await sql.query<{ n: string }>(
    `SELECT count(*) AS n FROM approval_stages WHERE state = 'pending' AND approvers @> ARRAY[$1]`,
    [manager],
  )) as [{ n: string }];
  return { trouble, closed, pending, manager, mine: Number(n) };
}
