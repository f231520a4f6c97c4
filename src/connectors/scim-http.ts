import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { retryAfterSeconds } from './scim-errors.js';

/** How the client reaches one SCIM service provider. */
export interface ClientOptions {
  /** The base URL without a trailing slash. */
  base: string;
  token: string;
  /** Seconds to open a connection (TCP and TLS). */
  connect: number;
  /** Seconds one request may take, the whole answer included. */
  statement: number;
  /** The longest Retry-After waited out within one call. */
  maxRetryWait: number;
}

/** Attempts of one request when the provider answers 429 or 503 with a short Retry-After. */
const MAX_ATTEMPTS = 4;
/** How long `close` lets requests in flight finish. */
const CLOSE_GRACE_MS = 1000;
/** How much of a provider's error text a message carries. */
const DETAIL_LIMIT = 300;

/** An HTTP answer that was an error; the connector decides what it means where it was asked. */
export class ScimHttpError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    /** RFC 7644 3.12 `scimType`, e.g. `noTarget`, `invalidFilter`, `uniqueness`. */
    readonly scimType: string | undefined,
    /** The provider's `detail`, or the start of a body that was not a SCIM error. */
    readonly detail: string,
    readonly retryAfter: number | undefined,
  ) {
    super(`${method} ${path}: HTTP ${status}${scimType ? ` ${scimType}` : ''}: ${detail}`);
  }
}

/** A failure to get an answer at all (timeout, refused, reset, TLS), with the request it was. */
export class ScimTransportError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    override readonly cause: unknown,
  ) {
    super(`${method} ${path}: ${describe(cause)}`);
  }
}

function describe(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const cause = e.cause instanceof Error ? `: ${e.cause.message}` : '';
  return `${e.message}${cause}`;
}

type Query = Record<string, string | number | undefined>;

/** A SCIM ListResponse (RFC 7644 3.4.2), as far as paging needs it. */
interface ListResponse {
  totalResults: number;
  startIndex?: number;
  Resources?: Record<string, unknown>[];
}

function isList(body: unknown): body is ListResponse {
  const b = body as Partial<ListResponse> | null;
  return (
    typeof b === 'object' &&
    b !== null &&
    typeof b.totalResults === 'number' &&
    (b.Resources === undefined || Array.isArray(b.Resources))
  );
}

/**
 * JSON over HTTP to one SCIM service provider: a bearer token on every request, a connection pool
 * whose connects are bounded by `connect`, every request (answer included) bounded by
 * `statement`, and 429/503 answers with a short `Retry-After` waited out and tried again.
 */
export class ScimClient {
  private readonly agent: Agent;
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(private readonly o: ClientOptions) {
    this.agent = new Agent({
      connect: { timeout: o.connect * 1000 },
      headersTimeout: o.statement * 1000,
      bodyTimeout: o.statement * 1000,
      connections: 8,
    });
  }

  /** The answer's body (parsed JSON, or undefined for an empty one); an error status throws. */
  async send(method: string, path: string, query?: Query, body?: unknown): Promise<unknown> {
    for (let attempt = 1; ; attempt++) {
      const sent = this.once(method, path, query, body);
      this.inFlight.add(sent);
      const r = await sent.finally(() => this.inFlight.delete(sent));
      if (r.status >= 200 && r.status < 300) return r.body;
      const err = this.error(method, path, r);
      const wait = err.retryAfter;
      const throttled = r.status === 429 || r.status === 503;
      if (
        throttled &&
        wait !== undefined &&
        wait <= this.o.maxRetryWait &&
        attempt < MAX_ATTEMPTS
      ) {
        await sleep(wait * 1000);
        continue;
      }
      throw err;
    }
  }

  /**
   * The resources a list query returns, a provider's page at a time: `startIndex` moves on by the
   * number received, until `totalResults` is reached. A provider that answers a page other than
   * the one asked for, or returns nothing before the total, ends the listing rather than looping.
   */
  async *pages(
    path: string,
    query: Query,
    count: number,
  ): AsyncGenerator<Record<string, unknown>[]> {
    let start = 1;
    for (;;) {
      const body = await this.send('GET', path, { ...query, startIndex: start, count });
      if (!isList(body)) {
        throw new ScimHttpError(
          'GET',
          path,
          200,
          undefined,
          'the answer is not a ListResponse',
          undefined,
        );
      }
      if (body.startIndex !== undefined && body.startIndex !== start) {
        throw new ScimHttpError(
          'GET',
          path,
          200,
          undefined,
          `asked for startIndex ${start}, the provider answered startIndex ${body.startIndex}: it does not page`,
          undefined,
        );
      }
      const resources = body.Resources ?? [];
      if (resources.length > 0) yield resources;
      start += resources.length;
      if (resources.length === 0 || start > body.totalResults) return;
    }
  }

  /**
   * Lets requests in flight finish for a second, then drops them: a hung one must not hold the
   * process. (undici's `Agent.close` waits for every request, and a `destroy` after it no longer
   * aborts them, so the client waits on its own requests and then destroys.)
   */
  async close(): Promise<void> {
    const grace = new AbortController();
    await Promise.race([
      Promise.allSettled([...this.inFlight]),
      sleep(CLOSE_GRACE_MS, undefined, { signal: grace.signal }).catch(() => undefined),
    ]);
    grace.abort();
    await this.agent.destroy();
  }

  private async once(
    method: string,
    path: string,
    query: Query | undefined,
    body: unknown,
  ): Promise<{ status: number; body: unknown; retryAfter: string | undefined }> {
    const qs = Object.entries(query ?? {})
      .filter((e): e is [string, string | number] => e[1] !== undefined)
      .map(([k, v]) => `${k}=${encodeURIComponent(String(v))}`)
      .join('&');
    const url = `${this.o.base}${path}${qs ? `?${qs}` : ''}`;
    try {
      const r = await request(url, {
        dispatcher: this.agent,
        method: method as 'GET',
        headers: {
          authorization: `Bearer ${this.o.token}`,
          accept: 'application/scim+json, application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/scim+json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.o.statement * 1000),
      });
      const text = await r.body.text();
      const header = r.headers['retry-after'];
      return {
        status: r.statusCode,
        body: parse(text),
        retryAfter: Array.isArray(header) ? header[0] : header,
      };
    } catch (e) {
      throw new ScimTransportError(method, path, e);
    }
  }

  private error(
    method: string,
    path: string,
    r: { status: number; body: unknown; retryAfter: string | undefined },
  ): ScimHttpError {
    const b = (r.body ?? {}) as { detail?: unknown; scimType?: unknown };
    const detail =
      typeof b.detail === 'string'
        ? b.detail
        : typeof r.body === 'string'
          ? r.body
          : r.body === undefined
            ? ''
            : JSON.stringify(r.body);
    return new ScimHttpError(
      method,
      path,
      r.status,
      typeof b.scimType === 'string' ? b.scimType : undefined,
      detail.slice(0, DETAIL_LIMIT),
      retryAfterSeconds(r.retryAfter, Date.now()),
    );
  }
}

/** JSON when it is JSON; otherwise the text (an HTML error page from a proxy), for messages. */
function parse(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
