import type { Catalog } from '../catalog/catalog.js';
import { enqueue } from '../jobs/queue.js';
import { scrubSecrets } from '../secrets.js';
import type { Sql } from '../sql.js';
import { type TicketEventRow, updateFor } from './messages.js';

/** The job kind that writes one update to one ticket. */
export const WRITEBACK = 'itsm.writeback';

/** One ordered stream per ticket: jobs of one subject run one at a time, in the order enqueued. */
export const ticketSubject = (ticket: string) => `ticket:${ticket}`;

/** An event that concerns a ticket, with the ticket. */
export interface Tracked extends TicketEventRow {
  ticket: string;
  integration: string;
  key: string;
}

/**
 * One write-back job for one event and ticket, on the ticket's ordered stream; false when the
 * ticket need not hear of the event. The dedupe key makes the same event for the same ticket one
 * job, whoever enqueues it (the tracker, or a ticket just opened catching up).
 */
export async function enqueueUpdate(
  tx: Sql,
  catalog: Catalog,
  now: Date,
  r: Tracked,
): Promise<boolean> {
  const u = updateFor({ ...r, seq: Number(r.seq) });
  if (!u) return false;
  const integration = catalog.settings.integrations?.find((i) => i.name === r.integration);
  const step = u.step ? integration?.steps[u.step] : undefined;
  await enqueue(tx, now, {
    kind: WRITEBACK,
    subject: ticketSubject(r.ticket),
    queue: `itsm:${r.integration}`,
    dedupeKey: `itsm:${r.ticket}:${r.seq}`,
    payload: {
      integration: r.integration,
      ticket: r.ticket,
      key: r.key,
      request: r.request_id,
      seq: Number(r.seq),
      action: r.action,
      // Whatever a person typed (a comment, a justification) is scrubbed before it leaves.
      text: scrubSecrets(`${u.text}\n[gatehouse ${r.ticket} #${r.seq}]`),
      ...(step ? { step } : {}),
    },
    dueAt: now,
  });
  return true;
}
