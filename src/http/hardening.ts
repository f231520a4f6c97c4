import { createHash } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import helmet from '@fastify/helmet';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { InputError } from '../core/errors.js';
import type { Admission } from '../core/limits/admit.js';
import type { WindowCount } from '../core/limits/rate-windows.js';
import { bearerToken } from './auth.js';
import { errorBody } from './errors.js';

/** Requests allowed per window, per key; the window in milliseconds. */
export interface RateLimits {
  windowMs: number;
  /** `/api/…`: per presented token (a hash of it) and per client address. */
  apiPerToken: number;
  apiPerAddress: number;
  /** Sign-in attempts (`signInAttempt`) and `/hooks/…` (ITSM webhooks): per client address. */
  authPerAddress: number;
  hooksPerAddress: number;
}

export const DEFAULT_RATE_LIMITS: RateLimits = {
  windowMs: 60_000,
  apiPerToken: 600,
  apiPerAddress: 1200,
  authPerAddress: 30,
  hooksPerAddress: 300,
};

/** Where the counts are kept: the store, through the use cases (`app.rateWindows`). */
export interface RateCounter {
  count(keys: readonly string[], windowMs: number): Promise<WindowCount[]>;
  /** count, reading the presented token's row in the same statement (admit.ts). */
  admit?(keys: readonly string[], windowMs: number, token: string): Promise<Admission>;
  forgetEnded(windowMs: number): Promise<void>;
}

interface Limit {
  prefix: string;
  max: number;
  key: (req: FastifyRequest) => string | undefined;
}

const BEARER = /^bearer[ \t]+(\S+)/i;

/**
 * The per-token key: a hash of the whole presented credential, never the credential. Not the id
 * part alone, which is no secret: anyone who knew a token's id could spend its allowance.
 */
const tokenKey = (req: FastifyRequest) => {
  const token = BEARER.exec(req.headers.authorization ?? '')?.[1];
  return token === undefined
    ? undefined
    : createHash('sha256').update(token).digest('base64url').slice(0, 22);
};

/**
 * Security headers on every answer and the rate limits, as onRequest hooks that run before any
 * route's own (authentication included), so a flood of bad tokens is cut before each is looked
 * up and audited. A strict CSP suits a JSON API; a route that serves HTML (the web UI) passes its
 * own policy in its route options (`helmet: { contentSecurityPolicy: … }`).
 */
export async function registerHardening(
  server: FastifyInstance,
  limits: RateLimits,
  counter: RateCounter,
  onError: (e: unknown) => void,
) {
  await server.register(helmet, {
    global: true,
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'none'"],
        frameAncestors: ["'none'"],
        baseUri: ["'none'"],
        formAction: ["'none'"],
      },
    },
    // Answers are per caller: no cache keeps a copy of one.
    crossOriginResourcePolicy: { policy: 'same-origin' },
  });
  server.addHook('onRequest', async (_req, reply) => {
    reply.header('cache-control', 'no-store');
  });

  server.addHook('onRequest', rateLimiter(limits, counter, onError));
}

/**
 * Sign-in attempts: the OIDC legs and the demo sign-in itself. Reading which methods exist, the
 * demo's list of people or signing out are what every page load does, and people behind one
 * proxy address share the limit, so those are not counted (ADR 0036).
 */
function signInAttempt(method: string, url: string): boolean {
  const path = url.split('?', 1)[0]!;
  return (
    path === '/auth/login' ||
    path === '/auth/callback' ||
    (method === 'POST' && path === '/auth/demo') ||
    // Unknown /auth/ paths stay limited, so probing for routes costs as much as an attempt.
    (path.startsWith('/auth/') && !KNOWN_AUTH_READS.has(path))
  );
}
const KNOWN_AUTH_READS = new Set(['/auth/methods', '/auth/demo', '/auth/logout']);

/**
 * Counts a request against each of its keys in the store, one statement for all of them, and
 * answers 429 past any key's limit. The counts live in the store, not in this process, so several
 * `serve` nodes on one database share each limit instead of allowing it once per node (ADR 0036).
 */
function rateLimiter(limits: RateLimits, counter: RateCounter, onError: (e: unknown) => void) {
  const byAddress = (req: FastifyRequest) => req.ip;
  const api: Limit[] = [
    { prefix: 'api-address', max: limits.apiPerAddress, key: byAddress },
    { prefix: 'api-token', max: limits.apiPerToken, key: tokenKey },
  ];
  const auth: Limit[] = [{ prefix: 'auth-address', max: limits.authPerAddress, key: byAddress }];
  const hooks: Limit[] = [{ prefix: 'hooks-address', max: limits.hooksPerAddress, key: byAddress }];
  const limitsFor = (method: string, url: string) =>
    url.startsWith('/api/v1/')
      ? api
      : signInAttempt(method, url)
        ? auth
        : url.startsWith('/hooks/')
          ? hooks
          : [];
  // Rows of ended windows are deleted by the first request this node sees in a new window: one
  // statement a window per node, and a failure there costs only stale rows, never the request.
  let swept = -1;
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const max = new Map<string, number>();
    const limited = limitsFor(req.method, req.url);
    for (const l of limited) {
      const k = l.key(req);
      if (k !== undefined) max.set(`${l.prefix}:${k}`, l.max);
    }
    if (max.size === 0) return;
    // An API call's token is read with its count (one round trip, not two) and judged by
    // requireScopes only if the call is let in.
    const token = limited === api ? bearerToken(req) : undefined;
    let counts: WindowCount[];
    if (token !== undefined && counter.admit) {
      const admission = await counter.admit([...max.keys()], limits.windowMs, token);
      counts = admission.counts;
      req.presented = { token, authenticate: admission.authenticate };
    } else counts = await counter.count([...max.keys()], limits.windowMs);
    const window = counts[0]?.windowStart.getTime() ?? swept;
    if (window !== swept) {
      swept = window;
      await counter.forgetEnded(limits.windowMs).catch(onError);
    }
    const over = counts.find((c) => c.hits > max.get(c.key)!);
    if (!over) return;
    const after = Math.max(1, Math.ceil(over.resetInMs / 1000));
    return reply
      .code(429)
      .header('retry-after', String(after))
      .send(errorBody(req, 'rate_limited', `too many requests; try again in ${after} seconds`));
  };
}

/**
 * `/metrics` for Prometheus: a token with the `metrics` scope, or a scraper at an allow-listed
 * address (`serve --metrics-allow 10.0.0.0/8,192.0.2.7`). The address is the connection's: a
 * proxy in front must be allow-listed itself, since forwarding headers are not trusted.
 */
export function metricsGuard(
  allow: readonly string[],
  needsToken: (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>,
) {
  const list = allowList(allow);
  return async (req: FastifyRequest, reply: FastifyReply) => {
    if (list && allowed(list, req.ip)) return;
    return needsToken(req, reply);
  };
}

function allowed(list: BlockList, address: string): boolean {
  // A dual-stack socket reports an IPv4 client as ::ffff:a.b.c.d.
  const ip =
    address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
  const family = isIP(ip);
  return family !== 0 && list.check(ip, family === 6 ? 'ipv6' : 'ipv4');
}

/** `10.0.0.0/8`, `192.0.2.7`, `::1`, `fd00::/8`: a BlockList, or undefined for none. */
export function allowList(entries: readonly string[]): BlockList | undefined {
  const items = entries.map((e) => e.trim()).filter((e) => e !== '');
  if (items.length === 0) return undefined;
  const list = new BlockList();
  for (const item of items) {
    const [address, bits, extra] = item.split('/');
    const family = isIP(address ?? '');
    const prefix = bits === undefined ? (family === 6 ? 128 : 32) : Number(bits);
    if (
      family === 0 ||
      extra !== undefined ||
      !Number.isInteger(prefix) ||
      prefix < 0 ||
      prefix > (family === 6 ? 128 : 32)
    )
      throw new InputError(`metrics allow-list: "${item}" is not an address or CIDR block`, {
        code: 'invalid_metrics_allow',
        field: 'metrics-allow',
      });
    list.addSubnet(address!, prefix, family === 6 ? 'ipv6' : 'ipv4');
  }
  return list;
}
