import type nodemailer from 'nodemailer';
import { TargetError } from '../core/errors.js';
import type { NotificationSettings } from '../core/model.js';
import type { Channel, Notifier, NotifierSource, OutgoingMessage } from '../core/ports/notifier.js';
import { scrubSecrets, secretsIn } from '../core/secrets.js';
import { resolveSetting } from './env.js';

/** Every call to a mail server or a webhook: connect within this, finish within the runtime's timeout. */
const CONNECT_TIMEOUT_MS = 10_000;
const TOTAL_TIMEOUT_MS = 25_000;

function resolved(channel: Channel, key: string, value: string, env: NodeJS.ProcessEnv): string {
  try {
    return resolveSetting(`notifications.${channel}`, key, value, env);
  } catch (e) {
    // Unset or refused: the operator can fix the environment, so the delivery keeps trying.
    const err = e as Error & { code?: string };
    throw new TargetError(err.message.replace(/^connector /, ''), {
      code: err.code ?? 'setting_invalid',
    });
  }
}

/** RFC 7231 Retry-After: seconds or an HTTP date. */
export function retryAfterSeconds(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const n = Number(header);
  if (Number.isFinite(n) && n >= 0) return n;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, (at - now) / 1000);
}

function emailNotifier(
  mailer: typeof nodemailer,
  settings: NonNullable<NotificationSettings['email']>,
  env: NodeJS.ProcessEnv,
): Notifier {
  const url = resolved('email', 'smtp_url', settings.smtpUrl, env);
  const known = [url, ...secretsIn(url)];
  const transport = mailer.createTransport({
    url,
    connectionTimeout: CONNECT_TIMEOUT_MS,
    greetingTimeout: CONNECT_TIMEOUT_MS,
    socketTimeout: TOTAL_TIMEOUT_MS,
  } as nodemailer.TransportOptions);
  return {
    async send(m: OutgoingMessage) {
      try {
        await transport.sendMail({
          from: settings.from,
          to: m.to,
          subject: m.subject,
          text: m.text,
        });
      } catch (e) {
        const err = e as Error & { responseCode?: number; code?: string };
        const status = err.responseCode;
        // 4xx is "try later" in SMTP; 5xx (a refused address, bad credentials) will not change.
        const permanent = status !== undefined && status >= 500;
        throw new TargetError(`email: ${scrubSecrets(err.message, known)}`, {
          code: permanent
            ? 'smtp_rejected'
            : status !== undefined
              ? 'smtp_deferred'
              : 'smtp_unavailable',
          retryable: !permanent,
        });
      }
    },
  };
}

function chatNotifier(
  settings: NonNullable<NotificationSettings['chat']>,
  env: NodeJS.ProcessEnv,
): Notifier {
  const url = resolved('chat', 'webhook_url', settings.webhookUrl, env);
  // The whole URL is the credential of an incoming webhook: never in a message.
  const known = [url, ...secretsIn(url)];
  return {
    async send(m: OutgoingMessage) {
      let res: Response;
      try {
        res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ text: m.text }),
          signal: AbortSignal.timeout(TOTAL_TIMEOUT_MS),
        });
      } catch (e) {
        const err = e as Error & { cause?: { code?: string } };
        const detail = err.cause?.code ?? err.name;
        throw new TargetError(scrubSecrets(`chat webhook: no answer (${detail})`, known), {
          code: 'webhook_unavailable',
        });
      }
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) return;
      // 429 and 5xx pass; any other 4xx (a webhook removed, a bad payload) will not.
      const retryable = res.status === 429 || res.status >= 500;
      const after = retryAfterSeconds(res.headers.get('retry-after'));
      throw new TargetError(`chat webhook answered HTTP ${res.status}`, {
        code: retryable ? 'webhook_unavailable' : 'webhook_rejected',
        retryable,
        ...(after !== undefined ? { retryAfterSeconds: after } : {}),
      });
    },
  };
}

/**
 * The email and chat senders, built from the settings in force and the environment. A sender is
 * rebuilt when the settings change (another `apply`), and kept otherwise.
 */
export function notifierSource(ctx: { env: NodeJS.ProcessEnv }): NotifierSource {
  const built = new Map<string, Notifier>();
  return {
    async get(channel, settings) {
      const config = settings[channel];
      if (!config)
        throw new TargetError(`notifications.${channel} is not configured`, {
          code: 'channel_not_configured',
          retryable: false,
        });
      // nodemailer is loaded by the first email, not by every command (ADR 0029).
      const mailer = channel === 'email' ? (await import('nodemailer')).default : undefined;
      const key = `${channel}\u0000${JSON.stringify(config)}`;
      let n = built.get(key);
      if (!n) {
        n = mailer
          ? emailNotifier(mailer, config as NonNullable<NotificationSettings['email']>, ctx.env)
          : chatNotifier(config as NonNullable<NotificationSettings['chat']>, ctx.env);
        built.set(key, n);
      }
      return n;
    },
  };
}
