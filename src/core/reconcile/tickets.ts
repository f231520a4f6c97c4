import { appendAudit } from '../audit/chain.js';
import type { Catalog } from '../catalog/catalog.js';
import { accountOf } from '../grants/account-guard.js';
import { newId } from '../ids.js';
import { CANCELLED } from '../itsm/payload.js';
import type { IntegrationConfig } from '../model.js';
import type { ConnectorSource } from '../ports/connector.js';
import type { ItsmSource, TicketReading } from '../ports/itsm.js';
import type { Sql } from '../sql.js';
import type { TicketFindingKind } from './settings.js';

/** Tickets whose grant ended longer ago than this are history, not compared. */
export const RECENT_SECONDS = 30 * 86400;

const LIVE = ['provisioning', 'active', 'revoking', 'revoke_failed', 'failed'];
const ENDED = ['revoked', 'expired'];

export type TicketState = 'open' | 'done' | 'closed' | 'cancelled';

/**
 * Where a ticket stands, by the integration's own mapping: its `done` step is done, its `revoked`
 * step closed (where the two are one value, as ServiceNow's closed complete often is, the grant
 * says which: ended is closed), a cancellation (Jira's resolution or status, ServiceNow 4 or 7)
 * cancelled; anything else open.
 */
export function ticketState(
  i: IntegrationConfig,
  r: TicketReading,
  grantEnded: boolean,
): TicketState {
  const same = (a: string | undefined, b: string | undefined) =>
    a !== undefined && b !== undefined && a.toLowerCase() === b.toLowerCase();
  if (i.type === 'servicenow' ? r.status === '4' || r.status === '7' : false) return 'cancelled';
  if (CANCELLED.test(r.resolution ?? '') || (i.type === 'jira' && CANCELLED.test(r.status)))
    return 'cancelled';
  const done = same(r.status, i.steps.done);
  const closed = same(r.status, i.steps.revoked);
  if (done && closed) return grantEnded ? 'closed' : 'done';
  if (done) return 'done';
  if (closed) return 'closed';
  return 'open';
}

interface Row {
  ticket: string;
  key: string;
  request_id: string;
  identity: string;
  entitlement: string;
  grant_id: string | null;
  grant_state: string | null;
  verified_at: Date | null;
  attributes: Record<string, string> | null;
}

export interface TicketFinding {
  kind: TicketFindingKind;
  ticket: string;
  ticketStatus: string;
  request: string;
  identity: string;
  entitlement: string;
  account: string;
  target: Record<string, string>;
  connector: string | null;
  grant: string | null;
  grantState: string | null;
}

export interface TicketCoverage {
  tickets: number;
  error: string | null;
}

/**
 * Compares one integration's tickets with the live record (CLI.md `reconcile`, ticket kinds):
 * the tickets of requests whose grant is live or ended within RECENT_SECONDS, each read from the
 * ITSM as it stands now (what Gatehouse last saw is what it wrote, not what a person did since),
 * and, for a closed or cancelled one, the access read back from its target. A ticket done whose
 * grant is not active and verified; a closed ticket, or a cancelled one, while the access is in
 * the target. An ITSM or target that cannot be read stops the comparison: `error` is set and the
 * run is partial, never clean.
 */
export async function compareTickets(
  d: { sql: Sql; catalog: Catalog; connectors: ConnectorSource; itsm: ItsmSource; now: Date },
  i: IntegrationConfig,
  found: (f: TicketFinding) => Promise<void>,
): Promise<TicketCoverage> {
  const since = new Date(d.now.getTime() - RECENT_SECONDS * 1000);
  const rows = await d.sql.query<Row>(
    `SELECT t.ticket, t.key, t.request_id, r.beneficiary AS identity, r.entitlement,
            g.id AS grant_id, g.state AS grant_state, g.verified_at, i.attributes
       FROM itsm_tickets t
       JOIN requests r ON r.id = t.request_id
       LEFT JOIN LATERAL (SELECT id, state, verified_at FROM grants
                           WHERE request_id = t.request_id ORDER BY created_at DESC, id DESC LIMIT 1) g ON true
       LEFT JOIN identities i ON i.id = r.beneficiary
      WHERE t.integration = $1
        AND (g.state = ANY ($2::text[]) OR r.created_at >= $3
             OR EXISTS (SELECT 1 FROM grants x WHERE x.request_id = t.request_id AND x.revoked_at >= $3))
      ORDER BY t.ticket`,
    [i.name, LIVE, since],
  );
  const writer = d.itsm.writer(i);
  let read = 0;
  try {
    for (const row of rows) {
      const reading = await writer.read(row.key);
      read++;
      const ended = row.grant_state !== null && ENDED.includes(row.grant_state);
      const state = ticketState(i, reading, ended);
      if (state === 'open') continue;
      const e = d.catalog.entitlements.get(row.entitlement);
      const app = e ? d.catalog.apps.get(e.app) : undefined;
      const config = app?.connector ? d.catalog.connectors.get(app.connector) : undefined;
      const account = accountOf({ id: row.identity, attributes: row.attributes ?? {} }, config);
      const base = {
        ticket: row.ticket,
        ticketStatus: reading.status,
        request: row.request_id,
        identity: row.identity,
        entitlement: row.entitlement,
        account,
        target: e?.target ?? {},
        connector: app?.connector ?? null,
        grant: row.grant_id,
        grantState: row.grant_state,
      };
      if (state === 'done') {
        const verified = row.grant_state === 'active' && row.verified_at !== null;
        if (!verified) await found({ ...base, kind: 'ticket_done_not_verified' });
        continue;
      }
      // Closed or cancelled: only the target says whether the access went.
      if (!e || !app?.connector) continue;
      const connector = await d.connectors.get(app.connector);
      if (!(await connector.readBack({ account, target: e.target }))) continue;
      await found({
        ...base,
        kind:
          state === 'closed' ? 'ticket_closed_access_present' : 'ticket_cancelled_access_present',
      });
    }
  } catch (e) {
    return { tickets: read, error: e instanceof Error ? e.message : String(e) };
  }
  return { tickets: read, error: null };
}

/** One ticket finding recorded with its audit event, in one transaction. */
export async function recordTicketFinding(
  sql: Sql,
  now: Date,
  run: { id: string; actor: string },
  coverageName: string,
  seq: number,
  f: TicketFinding,
): Promise<string> {
  return sql.transaction(async (tx) => {
    const id = newId('fnd');
    await tx.query(
      `INSERT INTO reconcile_findings (id, run_id, seq, connector, kind, account, target, identity, entitlement, grant_id, action, created_at, ticket)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'reported', $11, $12)`,
      [
        id,
        run.id,
        seq,
        coverageName,
        f.kind,
        f.account,
        JSON.stringify(f.target),
        f.identity,
        f.entitlement,
        f.grant,
        now,
        f.ticket,
      ],
    );
    await appendAudit(tx, now, {
      actor: run.actor,
      action: 'reconcile.finding',
      subject: id,
      refs: [run.id, f.request, ...(f.grant ? [f.grant] : [])],
      details: {
        run: run.id,
        connector: f.connector,
        kind: f.kind,
        ticket: f.ticket,
        ticket_status: f.ticketStatus,
        account: f.account,
        target: f.target,
        identity: f.identity,
        entitlement: f.entitlement,
        grant: f.grant,
        grant_state: f.grantState,
        mode: 'report',
        action: 'reported',
      },
    });
    return id;
  });
}
