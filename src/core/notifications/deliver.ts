import { appendAudit } from '../audit/chain.js';
import type { Catalog } from '../catalog/catalog.js';
import type { Clock } from '../clock.js';
import { TargetError } from '../errors.js';
import type { Job } from '../jobs/queue.js';
import type { Failure, JobHandler } from '../jobs/runtime.js';
import type { Channel, NotifierSource, OutgoingMessage } from '../ports/notifier.js';
import type { Sql } from '../sql.js';
import { DELIVER, enqueueDelivery } from './outbox.js';

/** A message holds at most this many notifications; the rest go in the next one, at once. */
export const DIGEST_MAX = 50;

/** After this many failed attempts a delivery gives up (the rows keep the error, `report` counts them). */
export const MAX_DELIVERY_ATTEMPTS = 8;

/** 30 s, 1 min, 2 min … capped at an hour: a day-long mail outage still ends in delivery or a visible failure. */
export function deliveryBackoffSeconds(attempt: number): number {
  return Math.min(3600, 30 * 2 ** (attempt - 1));
}

export interface DeliveryDeps {
  sql: Sql;
  clock: Clock;
  catalog: Catalog;
  workerId: string;
  /** Absent in a process that cannot deliver (a benchmark): its delivery jobs wait for one that can. */
  notifiers?: NotifierSource;
}

interface Waiting {
  id: string;
  grant_id: string | null;
  subject: string;
  body: string;
  created_at: Date;
}

interface Delivered {
  ids: string[];
  grants: string[];
}

const channelOf = (job: Job) => String(job.payload.channel) as Channel;
const recipientOf = (job: Job) => String(job.payload.recipient);

/** A recipient's notifications still due on a channel, oldest first. */
const WAITING = `FROM notifications
  WHERE recipient = $1 AND delivered_at IS NULL AND $2 = ANY(channels) AND NOT ($2 = ANY(delivered_on))`;

/** One message for one or several notifications; plain text that any channel can carry. */
export function compose(
  channel: Channel,
  recipient: string,
  items: readonly { subject: string; body: string }[],
): Omit<OutgoingMessage, 'to'> {
  const one = items.length === 1 ? items[0]! : undefined;
  const subject = one ? one.subject : `${items.length} notifications from Gatehouse`;
  const parts = items.map((i) => (one ? i.body : `${i.subject}\n${i.body}`));
  const lead = channel === 'chat' ? [`For ${recipient}: ${subject}`] : [];
  return { subject, text: [...lead, ...parts].join('\n\n') };
}

async function addressOf(d: DeliveryDeps, recipient: string, attribute?: string): Promise<string> {
  if (!attribute) return recipient;
  const [row] = await d.sql.query<{ attributes: Record<string, string> | null }>(
    'SELECT attributes FROM identities WHERE id = $1',
    [recipient],
  );
  const address = row?.attributes?.[attribute];
  if (!address)
    throw new TargetError(
      `${recipient} has no ${attribute} attribute to send email to (notifications.email.address_attribute)`,
      { code: 'no_address', retryable: false },
    );
  return address;
}

/**
 * `notification.deliver`: sends a recipient's waiting notifications on one channel as one
 * message (a digest when there are several), then marks them delivered on that channel in the
 * transaction that completes the job, with a `notification.delivered` audit event.
 */
export function deliveryHandler(d: DeliveryDeps): JobHandler<Delivered> {
  return {
    kind: DELIVER,
    retry: { maxAttempts: MAX_DELIVERY_ATTEMPTS, backoffSeconds: deliveryBackoffSeconds },
    async perform(job) {
      const channel = channelOf(job);
      const recipient = recipientOf(job);
      const settings = d.catalog.settings.notifications;
      if (!settings || !settings[channel])
        throw new TargetError(
          `notifications.${channel} is no longer configured in gatehouse.yaml: nothing can deliver it`,
          { code: 'channel_not_configured', retryable: false },
        );
      const rows = await d.sql.query<Waiting>(
        `SELECT id, grant_id, subject, body, created_at ${WAITING}
           AND created_at <= $3 ORDER BY created_at, id LIMIT ${DIGEST_MAX}`,
        [recipient, channel, d.clock.now()],
      );
      if (rows.length === 0) return { ids: [], grants: [] };
      if (!d.notifiers)
        throw new TargetError('this process has no notification senders; another will deliver', {
          code: 'notifier_unavailable',
        });
      const to =
        channel === 'email'
          ? await addressOf(d, recipient, settings.email!.addressAttribute)
          : undefined;
      const notifier = await d.notifiers.get(channel, settings);
      await notifier.send({ ...(to ? { to } : {}), ...compose(channel, recipient, rows) });
      return {
        ids: rows.map((r) => r.id),
        grants: [...new Set(rows.flatMap((r) => (r.grant_id ? [r.grant_id] : [])))],
      };
    },
    async succeeded(tx, job, now, result) {
      const channel = channelOf(job);
      const recipient = recipientOf(job);
      if (result.ids.length > 0) {
        // A row is delivered once every channel it was due on has it.
        await tx.query(
          `UPDATE notifications
              SET delivered_on = array_append(delivered_on, $2),
                  delivered_at = CASE WHEN channels <@ array_append(delivered_on, $2) THEN $3::timestamptz END,
                  -- Another channel's error stays until that channel delivers.
                  failed_at = CASE WHEN last_error LIKE $2 || ':%' THEN NULL ELSE failed_at END,
                  last_error = CASE WHEN last_error LIKE $2 || ':%' THEN NULL ELSE last_error END
            WHERE id = ANY($1::text[]) AND NOT ($2 = ANY(delivered_on))`,
          [result.ids, channel, now],
        );
        await appendAudit(tx, now, {
          actor: d.workerId,
          action: 'notification.delivered',
          subject: recipient,
          refs: [...result.grants, ...result.ids],
          details: { channel, recipient, notifications: result.ids },
        });
      }
      // Notifications that arrived while this one was sending (or beyond one message) go next.
      const [next] = await tx.query<{ first: Date | null }>(
        `SELECT min(created_at) AS first ${WAITING}`,
        [recipient, channel],
      );
      if (next?.first) {
        const digest = (d.catalog.settings.notifications?.digestSeconds ?? 0) * 1000;
        const due = new Date(Math.max(now.getTime(), new Date(next.first).getTime() + digest));
        await enqueueDelivery(tx, now, channel, recipient, due);
      }
    },
    async failed(tx, job, now, f: Failure) {
      const channel = channelOf(job);
      const recipient = recipientOf(job);
      // The error is already scrubbed of secrets by the runtime; it is kept where people look.
      const rows = await tx.query<{ id: string; grant_id: string | null }>(
        `UPDATE notifications SET attempts = attempts + 1, last_error = $3,
                failed_at = CASE WHEN $4 THEN $5::timestamptz ELSE failed_at END
          WHERE recipient = $1 AND delivered_at IS NULL AND $2 = ANY(channels)
            AND NOT ($2 = ANY(delivered_on)) AND created_at <= $5
          RETURNING id, grant_id`,
        [recipient, channel, `${channel}: ${f.error}`, f.final, now],
      );
      if (f.final && rows.length > 0)
        await appendAudit(tx, now, {
          actor: d.workerId,
          action: 'notification.failed',
          subject: recipient,
          refs: [
            ...new Set(rows.flatMap((r) => (r.grant_id ? [r.grant_id] : []))),
            ...rows.map((r) => r.id),
          ],
          details: {
            channel,
            recipient,
            notifications: rows.map((r) => r.id),
            attempts: f.attempts,
            error: f.error,
          },
        });
    },
  };
}
