import { createHash } from 'node:crypto';
import { actOnRequest } from '../approvals/act.js';
import { appendAudit } from '../audit/chain.js';
import { recordRefusal } from '../audit/refusals.js';
import type { Catalog } from '../catalog/catalog.js';
import { entitlementOf } from '../catalog/catalog.js';
import { parseDuration } from '../duration.js';
import { ConflictError, InputError, RefusedError } from '../errors.js';
import { startRevocation } from '../grants/grants.js';
import type { IntegrationConfig } from '../model.js';
import { submitRequest } from '../requests/submit.js';
import type { Sql } from '../sql.js';
import { type RelayedApproval, type TicketEvent, at, text } from './payload.js';

export type HookOutcome =
  /** A new request, made from the ticket. */
  | { status: 202; request: string }
  /** Nothing new: the ticket's request, where it has one (a duplicate, an update, a closing). */
  | {
      status: 200;
      request: string | null;
      duplicate: boolean;
      revoked?: string[];
      /** What became of an approval the ticket relayed. */
      approval?: RelayOutcome;
    }
  /** The ticket could not be made into a request, or its approval not applied: why (written back). */
  | { status: 403 | 409 | 422; code: string; message: string; field?: string };

/**
 * `applied`: through the approve/reject use case; `already_applied`: this person's same verdict is
 * on record (the ticket relayed it again); `not_pending`: the request is decided, so a transition
 * made after it (Gatehouse's own write-back among them) is nothing to apply; `not_relayed`: the
 * integration does not take approvals from tickets.
 */
export type RelayOutcome = 'applied' | 'already_applied' | 'not_pending' | 'not_relayed';

interface TicketRow {
  ticket: string;
  integration: string;
  request_id: string | null;
  status: string;
}

/** The integration named in the URL, as configured now. */
export function integrationOf(catalog: Catalog, name: string): IntegrationConfig | undefined {
  return catalog.settings.integrations?.find((i) => i.name === name);
}

/**
 * A ticket person is an identity by the integration's `match` attribute (or id), and only when
 * exactly one identity has that value: never a guess.
 */
async function person(
  tx: Sql,
  i: IntegrationConfig,
  value: string | undefined,
  field: string,
): Promise<string> {
  if (value === undefined)
    throw new InputError(`${field}: the ticket names nobody`, { code: 'unknown_person', field });
  const rows =
    i.matchAttribute === 'id'
      ? await tx.query<{ id: string }>('SELECT id FROM identities WHERE id = $1', [value])
      : await tx.query<{ id: string }>(
          'SELECT id FROM identities WHERE attributes ->> $1 = $2 ORDER BY id LIMIT 2',
          [i.matchAttribute, value],
        );
  if (rows.length === 1) return rows[0]!.id;
  throw new InputError(
    rows.length === 0
      ? `${field}: no identity has ${i.matchAttribute} "${value}"`
      : `${field}: more than one identity has ${i.matchAttribute} "${value}"`,
    { code: 'unknown_person', field },
  );
}

/** The field map applied to the ticket: what Gatehouse is asked to decide. */
async function requestFrom(tx: Sql, catalog: Catalog, i: IntegrationConfig, ev: TicketEvent) {
  const f = i.fields;
  const value = (path: string | undefined) =>
    path === undefined ? undefined : text(at(ev.record, path), i.matchAttribute);
  const entitlement = value(f.entitlement);
  if (entitlement === undefined)
    throw new InputError(`${f.entitlement}: the ticket names no entitlement`, {
      code: 'unknown_entitlement',
      field: f.entitlement,
    });
  try {
    entitlementOf(catalog, entitlement);
  } catch {
    throw new InputError(
      `${f.entitlement}: "${entitlement}" is not an entitlement Gatehouse knows`,
      {
        code: 'unknown_entitlement',
        field: f.entitlement,
      },
    );
  }
  const requester = await person(
    tx,
    i,
    f.requester ? value(f.requester) : ev.reporter,
    f.requester ?? (i.type === 'jira' ? 'reporter' : 'opened_by'),
  );
  const beneficiary = f.beneficiary
    ? await person(tx, i, value(f.beneficiary), f.beneficiary)
    : requester;
  const duration = value(f.duration);
  return {
    requester,
    beneficiary,
    entitlement,
    justification: value(f.reason) ?? '',
    ...(duration === undefined ? {} : { duration: parseDuration(duration, f.duration) }),
    ticket: ev.ticket,
    via: 'itsm' as const,
  };
}

/**
 * A closed or cancelled ticket. Never proof that access went: where the integration says
 * `on_ticket_closed: revoke`, the ticket's live grant starts a revocation (trigger ticket_closed)
 * that is verified like any other; otherwise nothing changes and reconciliation reports it.
 */
async function closed(
  tx: Sql,
  now: Date,
  i: IntegrationConfig,
  ev: TicketEvent,
  t: TicketRow,
): Promise<string[]> {
  await tx.query(`UPDATE itsm_tickets SET status = $2, updated_at = $3 WHERE ticket = $1`, [
    ev.ticket,
    ev.status,
    now,
  ]);
  if (i.onTicketClosed !== 'revoke' || !t.request_id) return [];
  const live = await tx.query<{ id: string }>(
    `SELECT id FROM grants WHERE request_id = $1 AND state IN ('active', 'provisioning', 'failed') ORDER BY id`,
    [t.request_id],
  );
  for (const g of live)
    await startRevocation(
      tx,
      now,
      i.identity,
      g.id,
      'ticket_closed',
      `ticket ${ev.ticket} ${ev.status}`,
      'itsm',
    );
  return live.map((g) => g.id);
}

/**
 * One authenticated delivery about a ticket (POST /hooks/{integration}). The ticket's row is taken
 * first and locked, so two deliveries of one ticket (a retry racing the original) make one request
 * between them; the delivery id makes the same delivery twice change nothing. An open ticket
 * without a request becomes one through the same use case as every other channel (`via: itsm`).
 */
export async function receiveTicket(
  sql: Sql,
  catalog: Catalog,
  now: Date,
  i: IntegrationConfig,
  ev: TicketEvent,
  delivery: string,
): Promise<HookOutcome> {
  return sql.transaction(async (tx) => {
    const fresh = await tx.query(
      `INSERT INTO itsm_deliveries (integration, delivery, ticket, received_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT DO NOTHING RETURNING delivery`,
      [i.name, delivery, ev.ticket, now],
    );
    if (ev.approval) return relayApproval(tx, catalog, now, i, ev, ev.approval, fresh.length > 0);
    await tx.query(
      `INSERT INTO itsm_tickets (ticket, integration, key, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)
       ON CONFLICT (ticket) DO NOTHING`,
      [ev.ticket, i.name, ev.key, now],
    );
    const [t] = await tx.query<TicketRow>(
      'SELECT ticket, integration, request_id, status FROM itsm_tickets WHERE ticket = $1 FOR UPDATE',
      [ev.ticket],
    );
    if (!t) throw new Error(`ticket ${ev.ticket} vanished`);
    if (t.integration !== i.name)
      throw new InputError(`${ev.ticket} belongs to integration ${t.integration}`, {
        code: 'ticket_of_other_integration',
        field: 'ticket',
      });
    if (fresh.length === 0) return { status: 200, request: t.request_id, duplicate: true };
    if (ev.status !== 'open') {
      const revoked = t.status === 'open' ? await closed(tx, now, i, ev, t) : [];
      await appendAudit(tx, now, {
        actor: i.identity,
        action: 'itsm.ticket_closed',
        subject: ev.ticket,
        refs: [...(t.request_id ? [t.request_id] : []), ...revoked],
        details: {
          integration: i.name,
          status: ev.status,
          on_ticket_closed: i.onTicketClosed,
          revoked,
        },
      });
      return { status: 200, request: t.request_id, duplicate: false, revoked };
    }
    if (t.request_id) return { status: 200, request: t.request_id, duplicate: false };
    // A ticket Gatehouse opened for a request made elsewhere, announced by the system's own hook
    // before the opening was recorded: it asks for nothing new, and the opening takes the row.
    const outbound = openedFor(ev);
    if (outbound) return { status: 200, request: outbound, duplicate: false };
    let request: string;
    try {
      request = (await submitRequest(tx, catalog, now, await requestFrom(tx, catalog, i, ev))).id;
    } catch (e) {
      if (!(e instanceof InputError || e instanceof RefusedError)) throw e;
      await refuse(tx, now, i, ev, e);
      return {
        status: 422,
        code: e.code,
        message: e.message,
        ...(e.field !== undefined ? { field: e.field } : {}),
      };
    }
    await tx.query(
      `UPDATE itsm_tickets SET request_id = $2, status = 'open', refusal = NULL, updated_at = $3 WHERE ticket = $1`,
      [ev.ticket, request, now],
    );
    await appendAudit(tx, now, {
      actor: i.identity,
      action: 'itsm.ticket_received',
      subject: ev.ticket,
      refs: [request],
      details: { integration: i.name, request, delivery },
    });
    return { status: 202, request };
  });
}

/**
 * An approval given in the ticket (a Jira transition to the mapped `approved`/`rejected` status, a
 * ServiceNow approval record), applied by the same use case as the CLI and API with `via: itsm`:
 * the person must be the current stage's approver, not the requester or beneficiary, on one stage
 * only. The ticket relays; Gatehouse decides. A refusal is audited (`access.refused` like the
 * API's, and `itsm.approval_refused`, which is written back to the ticket); the request waits on.
 */
async function relayApproval(
  tx: Sql,
  catalog: Catalog,
  now: Date,
  i: IntegrationConfig,
  ev: TicketEvent,
  a: RelayedApproval,
  fresh: boolean,
): Promise<HookOutcome> {
  const [t] = await tx.query<TicketRow>(
    'SELECT ticket, integration, request_id, status FROM itsm_tickets WHERE ticket = $1 FOR UPDATE',
    [ev.ticket],
  );
  if (!t?.request_id)
    return {
      status: 422,
      code: 'ticket_without_request',
      message: `${ev.ticket} has no Gatehouse request to approve`,
      field: 'ticket',
    };
  if (t.integration !== i.name)
    throw new InputError(`${ev.ticket} belongs to integration ${t.integration}`, {
      code: 'ticket_of_other_integration',
      field: 'ticket',
    });
  const request = t.request_id;
  const quiet = (approval: RelayOutcome, duplicate = false): HookOutcome => ({
    status: 200,
    request,
    duplicate,
    approval,
  });
  if (!fresh) return quiet('already_applied', true);
  if (!i.approvalsInTicket) return quiet('not_relayed');
  const [r] = await tx.query<{ status: string }>('SELECT status FROM requests WHERE id = $1', [
    request,
  ]);
  if (r?.status !== 'pending_approval') return quiet('not_pending');
  const field = i.type === 'jira' ? 'user' : 'approver';
  let actor: string | undefined;
  try {
    actor = await person(tx, i, a.person, field);
    const [same] = await tx.query(
      'SELECT 1 FROM approvals WHERE request_id = $1 AND approver = $2 AND verdict = $3',
      [request, actor, a.verdict],
    );
    if (same) return quiet('already_applied', true);
    await actOnRequest(tx, catalog, now, {
      requestId: request,
      actor,
      verdict: a.verdict,
      comment: a.comment,
      via: 'itsm',
    });
  } catch (e) {
    if (!(e instanceof InputError || e instanceof RefusedError)) throw e;
    await recordRefusal(tx, now, {
      actor: actor ?? i.identity,
      kind: 'refused',
      code: e.code,
      operation: `POST /hooks/${i.name}`,
      subject: request,
      via: 'itsm',
    });
    await appendAudit(tx, now, {
      actor: i.identity,
      action: 'itsm.approval_refused',
      subject: ev.ticket,
      refs: [request],
      details: {
        integration: i.name,
        person: actor ?? a.person ?? null,
        verdict: a.verdict,
        code: e.code,
        reason: e.message,
      },
    });
    return {
      status: e instanceof RefusedError ? 403 : e instanceof ConflictError ? 409 : 422,
      code: e.code,
      message: e.message,
      ...(e instanceof InputError && e.field !== undefined ? { field: e.field } : {}),
    };
  }
  await appendAudit(tx, now, {
    actor: i.identity,
    action: 'itsm.approval_relayed',
    subject: ev.ticket,
    refs: [request],
    details: { integration: i.name, person: actor, verdict: a.verdict },
  });
  return quiet('applied');
}

/** The request a ticket was opened for by Gatehouse (its label or correlation_id), if it was. */
function openedFor(ev: TicketEvent): string | undefined {
  const labels = ev.record.labels;
  const label = Array.isArray(labels)
    ? labels.find((l): l is string => typeof l === 'string' && /^gatehouse-req_\w+$/.test(l))
    : undefined;
  if (label) return label.slice('gatehouse-'.length);
  const c = ev.record.correlation_id;
  return typeof c === 'string' && /^req_\w+$/.test(c) ? c : undefined;
}

/** Why the ticket made no request: kept on the ticket's row, audited, and written back to it. */
async function refuse(
  tx: Sql,
  now: Date,
  i: IntegrationConfig,
  ev: TicketEvent,
  e: InputError | RefusedError,
): Promise<void> {
  await tx.query(
    `UPDATE itsm_tickets SET status = 'refused', refusal = $2, updated_at = $3 WHERE ticket = $1`,
    [ev.ticket, e.message, now],
  );
  await appendAudit(tx, now, {
    actor: i.identity,
    action: 'itsm.ticket_refused',
    subject: ev.ticket,
    details: {
      integration: i.name,
      code: e.code,
      reason: e.message,
      ...(e.field !== undefined ? { field: e.field } : {}),
    },
  });
}

/** A delivery's id: the system's own where it sends one (a retry keeps it), else the body's digest. */
export function deliveryId(header: string | undefined, raw: Buffer): string {
  return header && /^[\w.:-]{1,200}$/.test(header)
    ? header
    : `sha256:${createHash('sha256').update(raw).digest('hex')}`;
}
