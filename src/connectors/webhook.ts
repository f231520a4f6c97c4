import { createHmac, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { InputError, TargetError } from '../core/errors.js';
import type { AccessRef, Connector, ConnectorFactory } from '../core/ports/connector.js';
import { scrubSecrets } from '../core/secrets.js';
import { transportFailure } from './classify.js';
import { resolveSetting } from './env.js';
import { checkDescribedRef, describedTarget, fields } from './schema.js';
import {
  DEFAULT_CONNECT_TIMEOUT,
  DEFAULT_STATEMENT_TIMEOUT,
  noListing,
  parseSettings,
  timeoutSettings,
  type ConnectorModule,
} from './module.js';

const text = z.string().min(1);

const settingsSchema = fields({
  /** Where grant and revoke events are POSTed. */
  url: text,
  /**
   * The GET that says whether access is present: `{account}` and `{<target field>}` are replaced,
   * URL-encoded. It answers `{ "present": true|false }`.
   */
  read_url: text,
  /** The HMAC-SHA256 signing key, by reference (`${HOOK_SECRET}`). */
  secret: text,
  /** Optional bearer token sent as `Authorization`, by reference. */
  token: text.optional(),
  ...timeoutSettings,
});

/** The signature a receiver checks: HMAC-SHA256 over `timestamp + "." + body`, hex. */
export function webhookSignature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export const HEADERS = {
  timestamp: 'x-gatehouse-timestamp',
  signature: 'x-gatehouse-signature',
  event: 'x-gatehouse-event',
  delivery: 'x-gatehouse-delivery',
} as const;

/** `Retry-After`: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

interface Options {
  url: string;
  readUrl: string;
  secret: string;
  token: string | undefined;
  /** Milliseconds one request may take, connecting included. */
  timeoutMs: number;
}

type Op = 'granting' | 'revoking' | 'reading';

/**
 * A generic HTTP target: grant and revoke events are POSTed, signed, and must be acknowledged
 * with a 2xx; access is read back through a configured GET. The receiver does the change (or
 * queues it) and answers the read with what holds now, so only a read-back verifies a change.
 */
class WebhookConnector implements Connector {
  readonly type = 'webhook';
  readonly capabilities = webhookModule.capabilities;
  private closed = false;
  private readonly known: string[];

  constructor(
    readonly name: string,
    private readonly o: Options,
  ) {
    this.known = [o.secret, ...(o.token ? [o.token] : [])];
  }

  async apply(ref: AccessRef): Promise<void> {
    await this.send('grant', ref, 'granting');
  }

  async revoke(ref: AccessRef): Promise<void> {
    await this.send('revoke', ref, 'revoking');
  }

  async readBack(ref: AccessRef): Promise<boolean> {
    checkDescribedRef(this.name, this.closed, ref, 'reading');
    const url = this.readUrl(ref);
    const res = await this.call(url, 'GET', '', ref, 'reading', {});
    let body: unknown;
    try {
      body = JSON.parse(res.text);
    } catch {
      body = undefined;
    }
    const present = (body as { present?: unknown } | undefined)?.present;
    if (typeof present !== 'boolean')
      throw this.fail(`answered the read without "present": true or false`, ref, 'reading', {
        code: 'target_rejected',
        retryable: false,
      });
    return present;
  }

  listAll(): AsyncIterable<never> {
    return noListing(this.name);
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  private async send(event: 'grant' | 'revoke', ref: AccessRef, op: Op): Promise<void> {
    checkDescribedRef(this.name, this.closed, ref, op);
    const delivery = randomUUID();
    const body = JSON.stringify({
      event,
      delivery,
      connector: this.name,
      account: ref.account,
      target: ref.target,
    });
    await this.call(this.o.url, 'POST', body, ref, op, {
      'content-type': 'application/json',
      [HEADERS.event]: event,
      [HEADERS.delivery]: delivery,
    });
  }

  /** One signed request, bounded; a non-2xx answer is a TargetError classified by its status. */
  private async call(
    url: string,
    method: 'GET' | 'POST',
    body: string,
    ref: AccessRef,
    op: Op,
    headers: Record<string, string>,
  ): Promise<{ status: number; text: string }> {
    const timestamp = String(Math.floor(Date.now() / 1000));
    let res: Response;
    let text: string;
    try {
      res = await fetch(url, {
        method,
        headers: {
          ...headers,
          [HEADERS.timestamp]: timestamp,
          [HEADERS.signature]: webhookSignature(this.o.secret, timestamp, body),
          ...(this.o.token ? { authorization: `Bearer ${this.o.token}` } : {}),
        },
        ...(method === 'POST' ? { body } : {}),
        redirect: 'error',
        signal: AbortSignal.timeout(this.o.timeoutMs),
      });
      text = await res.text();
    } catch (e) {
      throw this.transport(e, ref, op);
    }
    if (res.status >= 200 && res.status < 300) return { status: res.status, text };
    throw this.refusal(res, text, ref, op);
  }

  private refusal(res: Response, text: string, ref: AccessRef, op: Op): TargetError {
    let said: { error?: unknown; code?: unknown } = {};
    try {
      said = JSON.parse(text) as typeof said;
    } catch {
      said = {};
    }
    const why =
      typeof said.error === 'string' ? said.error.slice(0, 300) : text.slice(0, 300).trim();
    const what = `answered ${res.status}${why ? `: ${why}` : ''}`;
    const s = res.status;
    const after = retryAfter(res.headers.get('retry-after'));
    if (s === 429 || s === 408 || s >= 500) {
      return this.fail(what, ref, op, {
        code: s === 429 ? 'target_busy' : s === 408 ? 'target_timeout' : 'target_unavailable',
        retryable: true,
        ...(after !== undefined ? { retryAfterSeconds: after } : {}),
      });
    }
    const code =
      s === 401
        ? 'target_auth_failed'
        : s === 403
          ? 'target_forbidden'
          : s === 404
            ? said.code === 'account_not_found'
              ? 'account_not_found'
              : 'target_not_found'
            : 'target_rejected';
    return this.fail(what, ref, op, { code, retryable: false });
  }

  private transport(e: unknown, ref: AccessRef, op: Op): TargetError {
    if (e instanceof TargetError) return e;
    const err = e as { name?: string; message?: string; cause?: { code?: string } };
    if (err?.name === 'TimeoutError' || err?.name === 'AbortError')
      return this.fail(`no answer within ${this.o.timeoutMs / 1000} s`, ref, op, {
        code: 'target_timeout',
        retryable: true,
      });
    const code = err?.cause?.code ?? '';
    const message = `${err?.message ?? String(e)} ${code}`;
    const c = transportFailure(code, message, /socket hang up|other side closed|terminated/i);
    return this.fail(
      c.reach === 'unreachable' ? `cannot be reached (${code || 'connection lost'})` : message,
      ref,
      op,
      { code: c.code, retryable: c.retryable },
    );
  }

  private fail(
    what: string,
    ref: AccessRef,
    op: Op,
    opts: { code: string; retryable: boolean; retryAfterSeconds?: number },
  ): TargetError {
    const target = Object.entries(ref.target)
      .map(([k, v]) => `${k} "${v}"`)
      .join(', ');
    return new TargetError(
      scrubSecrets(
        `connector ${this.name}: ${op} ${target || 'an empty target'} for ${ref.account}: the receiver ${what}`,
        this.known,
      ),
      opts,
    );
  }

  /** read_url with `{account}` and the target's fields filled in, each URL-encoded. */
  private readUrl(ref: AccessRef): string {
    return this.o.readUrl.replace(/\{([A-Za-z0-9_]+)\}/g, (_m, key: string) => {
      const value = key === 'account' ? ref.account : ref.target[key];
      if (value === undefined)
        throw new TargetError(
          `connector ${this.name}: read_url names {${key}}, which the entitlement's target does not hold`,
          { code: 'invalid_target', retryable: false },
        );
      return encodeURIComponent(value);
    });
  }
}

const webhookConnector: ConnectorFactory = (config, ctx) =>
  Promise.resolve().then(() => {
    const s = parseSettings(settingsSchema, config);
    const name = config.name;
    const url = resolveSetting(name, 'url', s.url, ctx.env);
    const readUrl = resolveSetting(name, 'read_url', s.read_url, ctx.env);
    for (const [key, value] of [
      ['url', url],
      ['read_url', readUrl],
    ] as const) {
      if (!/^https?:\/\//i.test(value))
        throw new InputError(`connector ${name}: ${key} must be an http:// or https:// URL`, {
          code: 'invalid_connector_settings',
          field: key,
        });
    }
    return new WebhookConnector(name, {
      url,
      readUrl,
      secret: resolveSetting(name, 'secret', s.secret, ctx.env),
      token: s.token === undefined ? undefined : resolveSetting(name, 'token', s.token, ctx.env),
      timeoutMs:
        ((s.connect_timeout ?? DEFAULT_CONNECT_TIMEOUT) +
          (s.statement_timeout ?? DEFAULT_STATEMENT_TIMEOUT)) *
        1000,
    });
  });

export const webhookModule: ConnectorModule = {
  type: 'webhook',
  settings: settingsSchema,
  target: describedTarget,
  capabilities: {
    listsAssignments: false,
    issuesCredentials: false,
    reportsLastUse: false,
    // The receiver acknowledges; a read-back verifies. A change it only queued shows absent on
    // read, so the attempt is retried (the events are idempotent) until the read confirms it.
    fulfilsAsynchronously: false,
  },
  create: webhookConnector,
};
