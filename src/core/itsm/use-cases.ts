import { recordRefusal } from '../audit/refusals.js';
import type { Catalog } from '../catalog/catalog.js';
import { InputError, NotFoundError } from '../errors.js';
import type { ItsmSource } from '../ports/itsm.js';
import type { Sql } from '../sql.js';
import { type HookCredentials, authenticateHook, replayed } from './authenticate.js';
import { type HookOutcome, deliveryId, integrationOf, receiveTicket } from './inbound.js';
import { ticketEvent } from './payload.js';

export interface HookDelivery extends HookCredentials {
  integration: string;
  /** The body exactly as received: the signature is over these bytes. */
  raw: Buffer;
  /** The system's delivery id (Jira's X-Atlassian-Webhook-Identifier), where it sends one. */
  delivery?: string | undefined;
  /** The caller's address, for the audit of a refusal. */
  address?: string | undefined;
}

export type HookResult = HookOutcome | { status: 401; code: string };

interface Deps {
  sql: Sql;
  now: () => Date;
  catalog: () => Promise<Catalog>;
  deciding: <T>(fn: (c: Catalog) => Promise<T>) => Promise<T>;
  itsm: ItsmSource | undefined;
}

/** The ITSM use cases, wired once for the HTTP edge and the CLI. */
export function itsmUseCases(d: Deps) {
  return {
    /**
     * One delivery to POST /hooks/{integration}: authenticated (a refusal is audited and nothing
     * else happens), checked for replay, parsed, then received as a ticket.
     */
    async hook(h: HookDelivery): Promise<HookResult> {
      const now = d.now();
      const catalog = await d.catalog();
      const i = integrationOf(catalog, h.integration);
      if (!i)
        throw new NotFoundError(`no integration "${h.integration}" in integrations.yaml`, {
          code: 'unknown_integration',
          field: 'integration',
        });
      if (!d.itsm) throw new Error('this process has no ITSM clients to check signatures with');
      const refuse = async (code: string, actor?: string, token?: string) => {
        await recordRefusal(d.sql, now, {
          actor: actor ?? 'unauthenticated',
          kind: 'unauthenticated',
          code,
          operation: `POST /hooks/${i.name}`,
          subject: i.name,
          token,
          address: h.address,
          via: 'itsm',
        });
        return { status: 401 as const, code };
      };
      const a = await authenticateHook({ sql: d.sql, now, itsm: d.itsm }, i, h.raw, h);
      if (!a.ok) return refuse(a.code, a.actor, a.token);
      let body: unknown;
      try {
        body = JSON.parse(h.raw.toString('utf8'));
      } catch {
        throw new InputError('the body is not valid JSON', { code: 'invalid_body', field: 'body' });
      }
      const ev = ticketEvent(i, body);
      if (replayed(now, ev.sentAt, a.signed)) return refuse('webhook_replayed', a.actor);
      const delivery = deliveryId(h.delivery, h.raw);
      return d.deciding((c) => receiveTicket(d.sql, c, now, i, ev, delivery));
    },
    /**
     * Reaches the system with the integration's credentials and says what works; a failure is
     * the answer's content, not an error, so every check is reported.
     */
    async test(name: string) {
      const i = integrationOf(await d.catalog(), name);
      if (!i)
        throw new NotFoundError(`no integration "${name}" in integrations.yaml`, {
          code: 'unknown_integration',
          field: 'name',
        });
      if (!d.itsm) throw new Error('this process has no ITSM clients');
      const checks: { check: string; ok: boolean; detail: string }[] = [];
      try {
        const said = await d.itsm.writer(i).check();
        checks.push({ check: 'credentials', ok: true, detail: said.join('; ') });
      } catch (e) {
        checks.push({ check: 'credentials', ok: false, detail: (e as Error).message });
      }
      try {
        const secret = d.itsm.webhookSecret(i);
        checks.push({
          check: 'webhook',
          ok: secret !== undefined || i.type === 'servicenow',
          detail:
            secret !== undefined
              ? 'webhook_secret is set: deliveries are checked by signature'
              : 'no webhook_secret: deliveries need an API token of scope itsm for ' + i.identity,
        });
      } catch (e) {
        checks.push({ check: 'webhook', ok: false, detail: (e as Error).message });
      }
      return { name: i.name, type: i.type, ok: checks.every((c) => c.ok), checks };
    },
    /** The integrations configured: names, types, where they are reached (never a credential). */
    async list() {
      return ((await d.catalog()).settings.integrations ?? []).map((i) => ({
        name: i.name,
        type: i.type,
        url: i.url,
        identity: i.identity,
        inbound: `/hooks/${i.name}`,
        on_ticket_closed: i.onTicketClosed,
        approvals_in_ticket: i.approvalsInTicket,
      }));
    },
  };
}
