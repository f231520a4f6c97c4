import { enqueue } from '../jobs/queue.js';
import type { NotificationSettings } from '../model.js';
import { newId } from '../ids.js';
import type { Channel } from '../ports/notifier.js';
import type { Sql } from '../sql.js';

/** The job kind that delivers a recipient's notifications on one channel. */
export const DELIVER = 'notification.deliver';

export interface NewNotification {
  kind: 'expiry_reminder';
  grantId: string | null;
  recipient: string;
  /** One plain sentence: no command syntax, so an email, a chat message, the API and the UI can show it. */
  subject: string;
  /** Plain sentences, likewise. */
  body: string;
  /** The same content as fields, for whoever renders it its own way. */
  details: Record<string, unknown>;
}

/** The channels configured now, in a fixed order; none when `notifications:` names none. */
export function channelsOf(settings: NotificationSettings | undefined): Channel[] {
  const out: Channel[] = [];
  if (settings?.email) out.push('email');
  if (settings?.chat) out.push('chat');
  return out;
}

/** The one pending delivery job of a recipient on a channel: later notifications join it. */
export const deliveryKey = (channel: Channel, recipient: string) =>
  `notify:${channel}:${recipient}`;

/**
 * Enqueues (or joins) the delivery of a recipient's notifications on one channel. The job is due
 * when the digest window opened by the first waiting notification closes: every notification for
 * the recipient written meanwhile joins it (same dedupe key, earliest due time kept) and goes out
 * in the same message.
 */
export async function enqueueDelivery(
  tx: Sql,
  now: Date,
  channel: Channel,
  recipient: string,
  dueAt: Date,
): Promise<void> {
  const key = deliveryKey(channel, recipient);
  await enqueue(tx, now, {
    kind: DELIVER,
    payload: { channel, recipient },
    subject: key,
    queue: `notify:${channel}`,
    dedupeKey: key,
    dueAt,
  });
}

/**
 * Writes a notification and, in the same transaction, the jobs that deliver it on every
 * configured channel. With no channel configured the row is written all the same, due on no
 * channel: it stays undelivered and `report` counts it as undeliverable, never dropped unseen.
 */
export async function recordNotification(
  tx: Sql,
  now: Date,
  settings: NotificationSettings | undefined,
  n: NewNotification,
): Promise<string> {
  const id = newId('ntf');
  const channels = channelsOf(settings);
  await tx.query(
    `INSERT INTO notifications (id, kind, grant_id, recipient, subject, body, details, channels, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    [
      id,
      n.kind,
      n.grantId,
      n.recipient,
      n.subject,
      n.body,
      JSON.stringify(n.details),
      channels,
      now,
    ],
  );
  const due = new Date(now.getTime() + (settings?.digestSeconds ?? 0) * 1000);
  for (const c of channels) await enqueueDelivery(tx, now, c, n.recipient, due);
  return id;
}
