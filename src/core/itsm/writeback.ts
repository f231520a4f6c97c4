import { appendAudit, sequenceAudit } from '../audit/chain.js';
import type { Catalog } from '../catalog/catalog.js';
import { TargetError } from '../errors.js';
import type { Job } from '../jobs/queue.js';
import type { Failure, JobHandler } from '../jobs/runtime.js';
import type { ItsmSource } from '../ports/itsm.js';
import type { Sql } from '../sql.js';
import { type Tracked, WRITEBACK, enqueueUpdate } from './enqueue-update.js';
import { TICKET_ACTIONS } from './messages.js';
import { enqueueOpenings } from './outbound.js';

export { WRITEBACK, ticketSubject } from './enqueue-update.js';

/** Audit events read per transaction by the tracker. */
export const TRACK_BATCH = 500;

/** 30 s, 1 min, 2 min … capped at an hour; 48 attempts ride out a two-day outage, then it is failed. */
export const MAX_WRITEBACK_ATTEMPTS = 48;
export const writebackBackoffSeconds = (attempt: number) => Math.min(3600, 30 * 2 ** (attempt - 1));

/**
 * The events after the cursor that concern a ticket, with the ticket: its reference as subject,
 * its request as subject, or its request among the refs (grant events name their request). The
 * three are probed per event as one BitmapOr over the ticket key and the unique request index, so
 * a batch reads its own tickets, never the table (track-plan.test.ts holds it at 100,000 tickets
 * on the statistics of a new store).
 */
export const TRACK_SQL = `
  SELECT DISTINCT ON (e.seq, t.ticket) e.seq, e.action, e.actor, e.subject, e.details, e.at,
         t.ticket, t.integration, t.key, t.request_id
    FROM audit_events e
    JOIN itsm_tickets t ON t.ticket = e.subject OR t.request_id = e.subject OR t.request_id = ANY (e.refs)
   WHERE e.seq > $1 AND e.seq <= $2 AND e.action = ANY ($3::text[])
   ORDER BY e.seq, t.ticket`;

/**
 * Turns the audit events of ticketed requests into write-back jobs. The audit chain is the outbox:
 * every change that a ticket must hear of already commits with its event, and this reads the
 * events in order after a cursor and enqueues one job per event and ticket, moving the cursor in
 * the same transaction. So no change can commit without its update following, none is enqueued
 * twice, and a ticket's updates are enqueued in the order they happened. Events commit in `seq`
 * order (each append or sequencer run holds the chain's head row until it commits), so nothing
 * below the head is missed.
 */
export async function trackTickets(
  sql: Sql,
  catalog: Catalog,
  now: Date,
  limit = TRACK_BATCH,
): Promise<{ count: number; more: boolean }> {
  // Staged events of committed changes join the chain first, so tickets follow them promptly.
  await sequenceAudit(sql);
  return sql.transaction(async (tx) => {
    const [c] = await tx.query<{ last_seq: number | string }>(
      'SELECT last_seq FROM itsm_cursor WHERE id = 1 FOR UPDATE',
    );
    const [h] = await tx.query<{ seq: number | string }>('SELECT seq FROM audit_head WHERE id = 1');
    if (!c || !h) return { count: 0, more: false };
    const from = Number(c.last_seq);
    const upto = Math.min(Number(h.seq), from + limit);
    if (upto <= from) return { count: 0, more: false };
    // Requests made elsewhere that a ticket must be opened for; they are not tickets' yet.
    let count = await enqueueOpenings(tx, catalog, now, from, upto);
    const rows = await tx.query<Tracked>(TRACK_SQL, [from, upto, TICKET_ACTIONS]);
    for (const r of rows) if (await enqueueUpdate(tx, catalog, now, r)) count++;
    await tx.query('UPDATE itsm_cursor SET last_seq = $1 WHERE id = 1', [upto]);
    return { count, more: upto < Number(h.seq) };
  });
}

export interface WritebackDeps {
  catalog: Catalog;
  workerId: string;
  /** Absent in a process that cannot reach ITSM systems: its jobs wait for one that can. */
  itsm?: ItsmSource;
}

const payloadOf = (job: Job) =>
  job.payload as {
    integration: string;
    ticket: string;
    key: string;
    request: string | null;
    seq: number;
    action: string;
    text: string;
    step?: string;
  };

/**
 * `itsm.writeback`: one update (a note and maybe a step) to one ticket. Retried with backoff and
 * the system's Retry-After while it is down; a ticket's later updates wait behind it, so they
 * arrive in order. A failure that cannot pass (a ticket gone, a transition the workflow lacks)
 * is final, audited, and counted by `report` and /metrics.
 */
export function writebackHandler(d: WritebackDeps): JobHandler<void> {
  return {
    kind: WRITEBACK,
    retry: { maxAttempts: MAX_WRITEBACK_ATTEMPTS, backoffSeconds: writebackBackoffSeconds },
    async perform(job) {
      const p = payloadOf(job);
      const integration = d.catalog.settings.integrations?.find((i) => i.name === p.integration);
      if (!integration)
        throw new TargetError(
          `integration ${p.integration} is no longer configured in integrations.yaml: nothing can write to ${p.ticket}`,
          { code: 'integration_not_configured', retryable: false },
        );
      if (!d.itsm)
        throw new TargetError('this process cannot reach ITSM systems; another will write back', {
          code: 'itsm_unavailable',
        });
      await d.itsm.writer(integration).update(p.key, {
        text: p.text,
        marker: `[gatehouse ${p.ticket} #${p.seq}]`,
        ...(p.step ? { step: p.step } : {}),
      });
    },
    async succeeded(tx, job, now) {
      const p = payloadOf(job);
      await appendAudit(tx, now, {
        actor: d.workerId,
        action: 'itsm.written_back',
        subject: p.ticket,
        refs: p.request ? [p.request] : [],
        details: {
          integration: p.integration,
          event: p.seq,
          action: p.action,
          step: p.step ?? null,
        },
      });
    },
    async failed(tx, job, now, f: Failure) {
      if (!f.final) return;
      const p = payloadOf(job);
      await appendAudit(tx, now, {
        actor: d.workerId,
        action: 'itsm.writeback_failed',
        subject: p.ticket,
        refs: p.request ? [p.request] : [],
        details: {
          integration: p.integration,
          event: p.seq,
          action: p.action,
          attempts: f.attempts,
          error: f.error,
        },
      });
    },
  };
}
