/**
 * How a notification leaves Gatehouse: one channel (email, chat) sends one message. Adapters live
 * in src/connectors/notifiers.ts; the core builds each message from structured fields and drives
 * delivery through the job queue (src/core/notifications/deliver.ts).
 *
 * Failures are `TargetError`s with a `code` and `retryable` (a 5xx or a refused connection is
 * retried, a rejected address is not; `retryAfterSeconds` honours the receiver's Retry-After).
 * Their messages never hold the SMTP password or the webhook URL.
 */
import type { NotificationSettings } from '../model.js';

export const CHANNELS = ['email', 'chat'] as const;
export type Channel = (typeof CHANNELS)[number];

export interface OutgoingMessage {
  /** The recipient's address on the channel (an email address); absent for a shared chat channel. */
  to?: string;
  subject: string;
  /** Plain text, one paragraph per item. */
  text: string;
}

export interface Notifier {
  send(message: OutgoingMessage): Promise<void>;
}

/** Builds a channel's sender from the settings as written, resolving ${VAR}s from the environment. */
export interface NotifierSource {
  get(channel: Channel, settings: NotificationSettings): Promise<Notifier>;
}
