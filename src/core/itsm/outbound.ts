import { appendAudit } from '../audit/chain.js';
import type { Catalog } from '../catalog/catalog.js';
import { TargetError } from '../errors.js';
import { enqueue } from '../jobs/queue.js';
import type { Failure, JobHandler } from '../jobs/runtime.js';
import { type IntegrationConfig, riskLevel } from '../model.js';
import type { ItsmSource, OpenedTicket } from '../ports/itsm.js';
import { scrubSecrets } from '../secrets.js';
import type { Sql } from '../sql.js';
import { type Tracked, enqueueUpdate } from './enqueue-update.js';
import { TICKET_ACTIONS } from './messages.js';

/** The job kind that opens a ticket for a request made elsewhere (ADR 0037). */
export const OPEN_TICKET = 'itsm.open';

/** Like a write-back: 30 s, 1 min … capped at an hour, 48 attempts ride out a two-day outage. */
export const MAX_OPEN_ATTEMPTS = 48;
const openBackoffSeconds = (attempt: number) => Math.min(3600, 30 * 2 ** (attempt - 1));

/**
 * The integration a request made elsewhere is ticketed in: the first in integrations.yaml whose
 * `ticketed.risk_at_least` the entitlement's risk reaches; undefined for none.
 */
export function ticketedIn(catalog: Catalog, entitlement: string): IntegrationConfig | undefined {
  const e = catalog.entitlements.get(entitlement);
  if (!e) return undefined;
  return catalog.settings.integrations?.find(
    (i) => i.ticketed && riskLevel(e.risk) >= riskLevel(i.ticketed.riskAtLeast),
  );
}

interface Submitted {
  seq: number | string;
  actor: string;
  subject: string;
  details: {
    kind?: string;
    via?: string;
    ticket?: string | null;
    entitlement?: string;
    beneficiary?: string;
    justification?: string;
  };
}

/**
 * In the tracker's transaction, over the same events: each request submitted through the CLI, the
 * API or the UI, without a ticket of its own, for an entitlement an integration marks `ticketed`,
 * gets one `itsm.open` job. A request that came from a ticket (`via: itsm`) has its ticket, and
 * birthright grants (`via: job`) are policy, not asks. The cursor moving in this transaction is
 * what makes it one job per request.
 */
export async function enqueueOpenings(
  tx: Sql,
  catalog: Catalog,
  now: Date,
  from: number,
  upto: number,
): Promise<number> {
  if (!catalog.settings.integrations?.some((i) => i.ticketed)) return 0;
  const rows = await tx.query<Submitted>(
    `SELECT seq, actor, subject, details FROM audit_events
      WHERE seq > $1 AND seq <= $2 AND action = 'request.submitted'`,
    [from, upto],
  );
  let count = 0;
  for (const r of rows) {
    const d = r.details;
    if (d.via === 'itsm' || d.via === 'job' || d.ticket || !d.entitlement) continue;
    const i = ticketedIn(catalog, d.entitlement);
    if (!i) continue;
    await enqueue(tx, now, {
      kind: OPEN_TICKET,
      subject: `ticket-for:${r.subject}`,
      queue: `itsm:${i.name}`,
      dedupeKey: `itsm-open:${r.subject}`,
      payload: {
        integration: i.name,
        request: r.subject,
        seq: Number(r.seq),
        summary: `Gatehouse request ${r.subject}: ${d.entitlement} for ${d.beneficiary ?? r.actor}`,
        // A justification is what a person typed: scrubbed before it leaves, like every update.
        text: scrubSecrets(
          [
            `Gatehouse request ${r.subject}, made through the ${d.via ?? 'cli'} by ${r.actor}.`,
            `Entitlement: ${d.entitlement}. Beneficiary: ${d.beneficiary ?? r.actor}.`,
            `Justification: ${d.justification || '(none given)'}`,
            'Gatehouse decides this request and writes each step here; it is done once the target is verified.',
          ].join('\n'),
        ),
      },
      dueAt: now,
    });
    count++;
  }
  return count;
}

interface OpenPayload {
  integration: string;
  request: string;
  /** The request's `request.submitted` event: its later events are at or after it. */
  seq: number;
  summary: string;
  text: string;
}

export interface OpenDeps {
  catalog: Catalog;
  workerId: string;
  itsm?: ItsmSource;
}

/**
 * `itsm.open`: opens the request's ticket, found first by the request id so a retry after a lost
 * answer opens none twice. On success, in one transaction holding the tracker's cursor: the
 * ticket's row (so the tracker writes the request's later events to it), the request's ticket,
 * `itsm.ticket_opened`, and the write-backs of the events the tracker had already passed (the
 * decision, perhaps approvals), enqueued on the ticket's stream before any later one can be.
 */
export function openHandler(d: OpenDeps): JobHandler<OpenedTicket> {
  return {
    kind: OPEN_TICKET,
    retry: { maxAttempts: MAX_OPEN_ATTEMPTS, backoffSeconds: openBackoffSeconds },
    async perform(job) {
      const p = job.payload as unknown as OpenPayload;
      const i = d.catalog.settings.integrations?.find((x) => x.name === p.integration);
      if (!i)
        throw new TargetError(
          `integration ${p.integration} is no longer configured in integrations.yaml: no ticket is opened for ${p.request}`,
          { code: 'integration_not_configured', retryable: false },
        );
      if (!d.itsm)
        throw new TargetError('this process cannot reach ITSM systems; another will open it', {
          code: 'itsm_unavailable',
        });
      return d.itsm.writer(i).open({ correlation: p.request, summary: p.summary, text: p.text });
    },
    async succeeded(tx, job, now, opened) {
      const p = job.payload as unknown as OpenPayload;
      const [c] = await tx.query<{ last_seq: number | string }>(
        'SELECT last_seq FROM itsm_cursor WHERE id = 1 FOR UPDATE',
      );
      // A delivery of the new ticket may have come first (the system's own webhook) and found
      // nothing to make of it: the row is taken over, its request set.
      await tx.query(
        `INSERT INTO itsm_tickets (ticket, integration, key, request_id, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $5)
         ON CONFLICT (ticket) DO UPDATE SET request_id = EXCLUDED.request_id, status = 'open',
           refusal = NULL, updated_at = EXCLUDED.updated_at
         WHERE itsm_tickets.request_id IS NULL`,
        [opened.ticket, p.integration, opened.key, p.request, now],
      );
      await tx.query('UPDATE requests SET ticket = $2 WHERE id = $1 AND ticket IS NULL', [
        p.request,
        opened.ticket,
      ]);
      await appendAudit(tx, now, {
        actor: d.workerId,
        action: 'itsm.ticket_opened',
        subject: opened.ticket,
        refs: [p.request],
        details: {
          integration: p.integration,
          request: p.request,
          key: opened.key,
          found: opened.found,
        },
      });
      const upto = Number(c?.last_seq ?? 0);
      const passed = await tx.query<Tracked>(
        `SELECT seq, action, actor, subject, details, at,
                $3::text AS ticket, $4::text AS integration, $5::text AS key, $6::text AS request_id
           FROM audit_events
          WHERE seq >= $1 AND seq <= $2 AND action = ANY ($7::text[])
            AND (subject = $6 OR $6 = ANY (refs))
          ORDER BY seq`,
        [p.seq, upto, opened.ticket, p.integration, opened.key, p.request, TICKET_ACTIONS],
      );
      for (const r of passed) await enqueueUpdate(tx, d.catalog, now, r);
    },
    async failed(tx, job, now, f: Failure) {
      if (!f.final) return;
      const p = job.payload as unknown as OpenPayload;
      await appendAudit(tx, now, {
        actor: d.workerId,
        action: 'itsm.ticket_open_failed',
        subject: p.request,
        details: { integration: p.integration, attempts: f.attempts, error: f.error },
      });
    },
  };
}
