import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * A receiver of the webhook connector's events, as a target system would write one: it checks
 * every request's signature and timestamp, refuses replays, keeps the access it was told about
 * and answers reads. Independent of the connector's own code (it signs nothing and imports
 * nothing from src/connectors), so the tests meet the protocol as docs/connectors/webhook.md
 * states it.
 */
export interface WebhookReceiver {
  url: string;
  /** The POST endpoint for grant and revoke events. */
  eventsUrl: string;
  /** A read_url template for the connector. */
  readUrl: string;
  /** Members of each group. */
  groups: Map<string, Set<string>>;
  /** Accounts the target knows. */
  accounts: Set<string>;
  /** Requests refused by the signature check, with the reason. */
  refused: { reason: string }[];
  /** Events accepted, in order. */
  events: { event: string; account: string; target: Record<string, string> }[];
  /** The next answers to give instead of handling requests: a status and optional headers. */
  faults: { status: number; headers?: Record<string, string> }[];
  /** Seconds this receiver's clock is off from real time (to test the replay window). */
  skewSeconds: number;
  close(): Promise<void>;
}

export async function startWebhookReceiver(opts: {
  secret: string;
  groups: string[];
  accounts: string[];
  /** Seconds a timestamp may be off before the request is refused as a replay (default 300). */
  replayWindowSeconds?: number;
}): Promise<WebhookReceiver> {
  const window = opts.replayWindowSeconds ?? 300;
  const seen = new Map<string, number>();
  const sockets = new Set<Socket>();
  const r: Omit<WebhookReceiver, 'url' | 'eventsUrl' | 'readUrl' | 'close'> = {
    groups: new Map(opts.groups.map((g) => [g, new Set<string>()])),
    accounts: new Set(opts.accounts),
    refused: [],
    events: [],
    faults: [],
    skewSeconds: 0,
  };

  const answer = (res: ServerResponse, status: number, body: unknown, headers = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };

  /** The signature over timestamp + "." + body, in constant time; then the replay window. */
  const verify = (req: IncomingMessage, body: string): string | undefined => {
    const ts = String(req.headers['x-gatehouse-timestamp'] ?? '');
    const sig = String(req.headers['x-gatehouse-signature'] ?? '');
    if (!/^\d+$/.test(ts)) return 'missing timestamp';
    const expected = Buffer.from(
      `sha256=${createHmac('sha256', opts.secret).update(`${ts}.${body}`).digest('hex')}`,
    );
    const given = Buffer.from(sig);
    if (given.length !== expected.length || !timingSafeEqual(given, expected))
      return 'bad signature';
    const now = Math.floor(Date.now() / 1000) + r.skewSeconds;
    if (Math.abs(now - Number(ts)) > window) return 'timestamp outside the replay window';
    // Within the window, the same signed request twice is a replay.
    for (const [s, at] of seen) if (at < now - window) seen.delete(s);
    if (req.method === 'POST') {
      if (seen.has(sig)) return 'replayed request';
      seen.set(sig, Number(ts));
    }
    return undefined;
  };

  const handle = (req: IncomingMessage, res: ServerResponse, body: string) => {
    const fault = r.faults.shift();
    if (fault) return answer(res, fault.status, { error: 'injected fault' }, fault.headers);
    const refusal = verify(req, body);
    if (refusal) {
      r.refused.push({ reason: refusal });
      return answer(res, 401, { error: refusal });
    }
    const url = new URL(req.url ?? '/', 'http://receiver');
    if (req.method === 'GET' && url.pathname === '/access') {
      const account = url.searchParams.get('account') ?? '';
      const group = url.searchParams.get('group') ?? '';
      return answer(res, 200, { present: r.groups.get(group)?.has(account) ?? false });
    }
    if (req.method === 'POST' && url.pathname === '/events') {
      let e: { event?: string; account?: string; target?: Record<string, string> };
      try {
        e = JSON.parse(body) as typeof e;
      } catch {
        return answer(res, 400, { error: 'not JSON' });
      }
      const account = String(e.account ?? '');
      const group = String(e.target?.group ?? '');
      const members = r.groups.get(group);
      if (e.event === 'grant') {
        if (!members) return answer(res, 404, { error: `no group "${group}"` });
        if (!r.accounts.has(account))
          return answer(res, 404, { error: `no account "${account}"`, code: 'account_not_found' });
        members.add(account);
      } else if (e.event === 'revoke') {
        members?.delete(account); // absent access is the goal: nothing to refuse
      } else return answer(res, 400, { error: `unknown event "${e.event}"` });
      r.events.push({ event: e.event, account, target: e.target ?? {} });
      return answer(res, 200, { ok: true });
    }
    return answer(res, 404, { error: 'no such endpoint' });
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const url = `http://127.0.0.1:${port}`;
  return Object.assign(r, {
    url,
    eventsUrl: `${url}/events`,
    readUrl: `${url}/access?account={account}&group={group}`,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((done) => server.close(() => done()));
    },
  });
}
