import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { collectAssignments, type Connector } from '../core/ports/connector.js';
import { InputError, TargetError } from '../core/errors.js';
import { describeConnectorContract, type ContractFixture } from './contract.js';
import { scimConnector, scimModule } from './scim.js';
import { classifyStatus, classifyTransport, retryAfterSeconds } from './scim-errors.js';
import { refusingPort, unresponsiveTarget, type TestTarget } from './test-targets.js';
import { startScimServer, type ScimServer } from '../testing/scim-server.js';

/** An apostrophe, a space and a comma prove that accounts are quoted into filters, not spliced. */
const ACCOUNTS = ['alice', "bob o'neil, jr"] as const;
const MISSING_ACCOUNT = 'carol';
const GROUPS = ['readers', 'Odd Writers', 'other'] as const;

/** Short timeouts for the fault checks, so they finish quickly; generous ones elsewhere. */
const SHORT = { connect_timeout: '1s', statement_timeout: '1s' };
const settingsFor = (extra: Record<string, unknown> = {}) => ({
  url: '${SCIM_URL}',
  token: '${SCIM_TOKEN}',
  connect_timeout: '5s',
  statement_timeout: '10s',
  ...extra,
});

/** One SCIM server for the file's shared fixtures, started on first use. */
let shared: Promise<ScimServer> | undefined;
const started: Promise<ScimServer>[] = [];
function server(opts?: { maxPageSize?: number }): Promise<ScimServer> {
  const s = startScimServer(opts).then((s) => {
    for (const u of ACCOUNTS) s.addUser(u);
    for (const g of GROUPS) s.addGroup(g);
    return s;
  });
  started.push(s);
  return s;
}
const scim = () => (shared ??= server());
after(async () => {
  for (const s of started) await (await s).close();
});

async function open(
  name: string,
  url: string,
  token: string,
  extra: Record<string, unknown> = {},
): Promise<Connector> {
  return scimConnector(
    { name, type: 'scim', settings: settingsFor(extra) },
    { env: { SCIM_URL: url, SCIM_TOKEN: token }, dataDir: '/nonexistent' },
  );
}

/**
 * The faults the contract checks on every network target: a host that accepts connections and
 * never answers, one that answers a request's headers and then never sends the body, and a port
 * that refuses connections.
 */
async function faults(targets: TestTarget[], opened: Connector[]) {
  const silent = await unresponsiveTarget();
  const stalling = await unresponsiveTarget((socket: Socket) => {
    socket.once('data', () =>
      socket.write(
        'HTTP/1.1 200 OK\r\ncontent-type: application/scim+json\r\ncontent-length: 100\r\n\r\n{',
      ),
    );
  });
  targets.push(silent, stalling);
  const unresponsive = [
    await open('scim-silent', `http://127.0.0.1:${silent.port}/scim/v2`, 't', SHORT),
    await open('scim-stalling', `http://127.0.0.1:${stalling.port}/scim/v2`, 't', SHORT),
  ];
  const refusing = await open(
    'scim-refusing',
    `http://127.0.0.1:${await refusingPort()}/v2`,
    't',
    SHORT,
  );
  opened.push(...unresponsive, refusing);
  return { unresponsive, refusing };
}

{
  const opened: Connector[] = [];
  const targets: TestTarget[] = [];
  describeConnectorContract(
    'scim (scimmy service provider)',
    async (): Promise<ContractFixture> => {
      const s = await scim();
      const connector = await open('scim-github', s.url, s.token);
      opened.push(connector);
      return {
        module: scimModule,
        settings: settingsFor(),
        connector,
        governed: [{ group: GROUPS[0] }, { group: GROUPS[1] }],
        ungoverned: { group: GROUPS[2] },
        missingTarget: { group: 'missing-group' },
        accounts: [ACCOUNTS[0], ACCOUNTS[1]],
        missingAccount: MISSING_ACCOUNT,
        faults: await faults(targets, opened),
      };
    },
    async () => {
      for (const c of opened) await c.close();
      for (const t of targets) await t.close();
    },
  );
}

const rejection = (p: Promise<unknown>) =>
  p.then(
    () => assert.fail('expected the call to fail'),
    (e: unknown) => e,
  );

test('a 429 with a short Retry-After is waited out and the call then succeeds', async () => {
  const s = await server();
  const c = await open('scim-throttled', s.url, s.token);
  try {
    let throttled = 0;
    s.intercept = (_req, res) => {
      if (throttled >= 2) return 'pass';
      throttled++;
      res
        .status(429)
        .set('retry-after', '1')
        .json({
          schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'],
          status: '429',
          detail: 'slow down',
        });
      return 'handled';
    };
    const began = Date.now();
    await c.apply({ account: 'alice', target: { group: 'readers' } });
    assert.equal(throttled, 2);
    assert.ok(Date.now() - began >= 900, 'the Retry-After was honoured, not hammered');
    assert.deepEqual(s.members('readers'), ['alice']);
  } finally {
    s.intercept = undefined;
    await c.close();
  }
});

test('a 429 asking for longer than max_retry_wait fails at once, retryable after that many seconds', async () => {
  const s = await server();
  const c = await open('scim-throttled', s.url, s.token, { max_retry_wait: '2s' });
  try {
    s.intercept = (_req, res) => {
      res.status(429).set('retry-after', '120').end();
      return 'handled';
    };
    const before = s.log.length;
    const began = Date.now();
    const err = await rejection(c.apply({ account: 'alice', target: { group: 'readers' } }));
    assert.ok(err instanceof TargetError, String(err));
    assert.equal(err.code, 'target_rate_limited', err.message);
    assert.equal(err.retryable, true);
    assert.equal(err.retryAfterSeconds, 120);
    assert.match(err.message, /scim-throttled.*throttling.*retry after 120s/);
    assert.ok(Date.now() - began < 10_000, 'no waiting within the call');
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(s.log.length - before <= 2, 'the group and the user looked up once, not retried');
  } finally {
    s.intercept = undefined;
    await c.close();
  }
});

test('a wrong token is a permanent target_auth_failed that never shows the token', async () => {
  const s = await scim();
  const c = await open('scim-github', s.url, 'not-the-token');
  try {
    for (const call of [
      c.apply({ account: 'alice', target: { group: 'readers' } }),
      c.readBack({ account: 'alice', target: { group: 'readers' } }),
      collectAssignments(c.listAll([{ group: 'readers' }])),
    ]) {
      const err = await rejection(call);
      assert.ok(err instanceof TargetError, String(err));
      assert.equal(err.code, 'target_auth_failed', err.message);
      assert.equal(err.retryable, false);
      assert.match(err.message, /^connector scim-github: .*refused the token/);
      assert.ok(!err.message.includes('not-the-token'), err.message);
    }
  } finally {
    await c.close();
  }
});

test('a missing user or a missing group fails at once, permanently, in one attempt', async () => {
  const s = await scim();
  const c = await open('scim-github', s.url, s.token);
  try {
    const before = s.log.length;
    const user = await rejection(c.apply({ account: 'nobody', target: { group: 'readers' } }));
    assert.ok(user instanceof TargetError, String(user));
    assert.equal(user.code, 'account_not_found');
    assert.equal(user.retryable, false);
    assert.match(user.message, /account "nobody" has no user with that userName/);
    const group = await rejection(c.apply({ account: 'alice', target: { group: 'nowhere' } }));
    assert.ok(group instanceof TargetError, String(group));
    assert.equal(group.code, 'target_not_found');
    assert.equal(group.retryable, false);
    assert.match(group.message, /group "nowhere" does not exist/);
    assert.equal(s.log.length - before, 4, 'two look-ups a call, no PATCH, no retry');
    // Revoking or reading back what cannot exist is the goal state, not a failure.
    await c.revoke({ account: 'nobody', target: { group: 'nowhere' } });
    assert.equal(await c.readBack({ account: 'nobody', target: { group: 'readers' } }), false);
  } finally {
    await c.close();
  }
});

test('a group deleted between the look-up and the PATCH is target_not_found; a 500 is retryable', async () => {
  const s = await server();
  const c = await open('scim-github', s.url, s.token);
  try {
    s.intercept = (req, res) => {
      if (req.method !== 'PATCH') return 'pass';
      res.status(404).json({ status: '404', detail: 'Resource gone' });
      return 'handled';
    };
    const gone = await rejection(c.apply({ account: 'alice', target: { group: 'readers' } }));
    assert.ok(gone instanceof TargetError, String(gone));
    assert.equal(gone.code, 'target_not_found', gone.message);
    await c.revoke({ account: 'alice', target: { group: 'readers' } });

    s.intercept = (_req, res) => {
      res.status(500).type('text/html').send('<h1>Internal Server Error</h1>');
      return 'handled';
    };
    const broken = await rejection(c.readBack({ account: 'alice', target: { group: 'readers' } }));
    assert.ok(broken instanceof TargetError, String(broken));
    assert.equal(broken.code, 'target_error', broken.message);
    assert.equal(broken.retryable, true);
    assert.match(broken.message, /HTTP 500: <h1>Internal Server Error/);
  } finally {
    s.intercept = undefined;
    await c.close();
  }
});

test('listing pages through a provider that returns at most two resources a page', async () => {
  const s = await server({ maxPageSize: 2 });
  const c = await open('scim-github', s.url, s.token);
  try {
    const names = Array.from({ length: 7 }, (_, i) => `user${i}`);
    const ids = names.map((n) => s.addUser(n));
    const groups = ['g0', 'g1', 'g2', 'g3', 'g4'];
    for (const g of groups) s.addGroup(g, ids);
    s.addGroup('ungoverned', ids);
    const governed = groups.map((group) => ({ group }));
    const before = s.log.length;
    const pages = [];
    for await (const page of c.listAll(governed, { pageSize: 3 })) pages.push(page);
    const listed = pages.flat().map((a) => `${a.target.group}/${a.account}`);
    const expected = groups.flatMap((g) => names.map((n) => `${g}/${n}`));
    assert.deepEqual([...listed].sort(), expected.sort(), 'every assignment exactly once');
    assert.ok(pages.every((p) => p.length >= 1 && p.length <= 3));
    const groupQueries = s.log.slice(before).filter((l) => l.startsWith('GET /scim/v2/Groups?'));
    assert.ok(groupQueries.length >= 3, `5 groups at 2 a page: ${groupQueries.length} queries`);
    assert.ok(groupQueries.some((q) => q.includes('startIndex=5')));
    const userQueries = s.log.slice(before).filter((l) => l.startsWith('GET /scim/v2/Users?'));
    assert.ok(userQueries.length >= 4 * groups.length, '7 members at 2 a page, per group');
  } finally {
    await c.close();
  }
});

test('a connection dropped mid-listing fails the listing, retryably, instead of ending it short', async () => {
  const s = await server({ maxPageSize: 2 });
  const c = await open('scim-github', s.url, s.token);
  try {
    const groups = ['d0', 'd1', 'd2', 'd3', 'd4'];
    const alice = s.addUser('dropped-alice');
    for (const g of groups) s.addGroup(g, [alice]);
    let pages = 0;
    s.intercept = (req) => {
      if (req.method === 'GET' && req.path === '/Groups' && ++pages === 2) {
        req.socket.destroy();
        return 'handled';
      }
      return 'pass';
    };
    const seen: string[] = [];
    const err = await (async () => {
      for await (const page of c.listAll(groups.map((group) => ({ group })))) {
        seen.push(...page.map((a) => a.target.group!));
      }
    })().then(
      () => assert.fail('the listing ended as if complete'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof TargetError, String(err));
    assert.equal(err.code, 'target_unreachable', err.message);
    assert.equal(err.retryable, true);
    // A query's groups are given out in order once all its pages are in (the port's order), so
    // nothing of the interrupted query was given out as if it were all there was.
    assert.deepEqual(seen, [], 'no group of the interrupted query was given out');
  } finally {
    s.intercept = undefined;
    await c.close();
  }
});

test('a provider that ignores the userName filter is refused, not paged through, and never matched wrongly', async () => {
  const s = await server();
  const c = await open('scim-github', s.url, s.token);
  try {
    for (let i = 0; i < 5; i++) s.addUser(`someone${i}`);
    s.intercept = (req) => {
      if (req.method === 'GET' && req.path === '/Users') delete req.query.filter;
      return 'pass';
    };
    const before = s.log.length;
    const err = await rejection(c.apply({ account: 'nobody', target: { group: 'readers' } }));
    assert.ok(err instanceof TargetError, String(err));
    assert.equal(err.code, 'target_rejected', err.message);
    assert.equal(err.retryable, false);
    assert.match(err.message, /does not filter by userName/);
    assert.equal(s.log.length - before, 2, 'one page of users, one of groups');
    // The right user is still found when the unfiltered first page happens to hold it.
    await c.apply({ account: 'alice', target: { group: 'readers' } });
    assert.deepEqual(s.members('readers'), ['alice']);
  } finally {
    s.intercept = undefined;
    await c.close();
  }
});

test('a batch changes and reads each group in one request, and a refused pair fails alone', async () => {
  const s = await server();
  const c = await open('scim-github', s.url, s.token);
  try {
    const names = Array.from({ length: 12 }, (_, i) => `batch${i}`);
    for (const n of names) s.addUser(n);
    s.addGroup('batch-a');
    s.addGroup('batch-b');
    const refs = names.map((account, i) => ({
      account,
      target: { group: i % 2 ? 'batch-a' : 'batch-b' },
    }));
    let before = s.log.length;
    const applied = await c.applyMany!(refs);
    assert.deepEqual(
      applied.map((a) => a.ok),
      refs.map(() => true),
    );
    const requests = s.log.slice(before);
    assert.equal(requests.filter((r) => r.startsWith('PATCH')).length, 2, requests.join('\n'));
    assert.ok(requests.length <= 4, `${requests.length} requests for 12 grants in 2 groups`);
    assert.deepEqual(s.members('batch-a'), names.filter((_, i) => i % 2).sort());

    before = s.log.length;
    const held = await c.readBackMany!(refs);
    assert.deepEqual(
      held.map((h) => h.ok && h.value),
      refs.map(() => true),
    );
    assert.ok(s.log.length - before <= 4, 'two look-ups and one read per group');

    // A member the provider refuses (here: one it rejects as no user) fails alone.
    const refused = s.userId('batch3')!;
    s.intercept = (req, res) => {
      if (req.method === 'PATCH' && JSON.stringify(req.body).includes(refused)) {
        res.status(400).json({ status: '400', scimType: 'invalidValue', detail: 'not this one' });
        return 'handled';
      }
      return 'pass';
    };
    const revoked = await c.revokeMany!(refs);
    assert.deepEqual(
      revoked.map((r, i) => (r.ok ? 'ok' : `${i}:${(r.error as TargetError).code}`)),
      refs.map((_, i) => (i === 3 ? '3:target_rejected' : 'ok')),
    );
    assert.deepEqual(s.members('batch-a'), ['batch3']);
    assert.deepEqual(s.members('batch-b'), []);
  } finally {
    s.intercept = undefined;
    await c.close();
  }
});

test('a member that is no user is listed by its id, so reconciliation sees it', async () => {
  const s = await server();
  const c = await open('scim-github', s.url, s.token);
  try {
    const id = s.addUser('dana');
    s.addGroup('mixed', [id, 'a-nested-group-id']);
    const listed = await collectAssignments(c.listAll([{ group: 'mixed' }]));
    assert.deepEqual(listed.map((a) => a.account).sort(), ['a-nested-group-id', 'dana']);
  } finally {
    await c.close();
  }
});

test('two groups with one displayName are refused as ambiguous', async () => {
  const s = await server();
  const c = await open('scim-github', s.url, s.token);
  try {
    s.addGroup('twin');
    s.addGroup('twin');
    const err = await rejection(c.apply({ account: 'alice', target: { group: 'twin' } }));
    assert.ok(err instanceof TargetError, String(err));
    assert.equal(err.code, 'target_ambiguous');
    assert.equal(err.retryable, false);
  } finally {
    await c.close();
  }
});

test('closing a connector with a request hanging in flight ends it within a second or two', async () => {
  const hung = await unresponsiveTarget();
  const c = await open('scim-hung', `http://127.0.0.1:${hung.port}/v2`, 't', {
    statement_timeout: '30s',
  });
  try {
    const call = rejection(c.readBack({ account: 'alice', target: { group: 'readers' } }));
    await new Promise((r) => setTimeout(r, 200));
    const began = Date.now();
    await c.close();
    const err = await call;
    assert.ok(Date.now() - began < 5000, `closed in ${Date.now() - began} ms`);
    assert.ok(err instanceof TargetError, String(err));
    assert.equal(err.retryable, true, 'the work is tried again by a rebuilt connector');
  } finally {
    await hung.close();
  }
});

test('settings are checked: an https URL or a loopback http one, a token, bounded waits', async () => {
  const parse = (extra: Record<string, unknown>) =>
    scimModule.settings.safeParse({ ...settingsFor(), ...extra }).success;
  assert.ok(parse({}));
  assert.ok(parse({ url: 'https://api.github.com/scim/v2/enterprises/acme' }));
  assert.ok(!parse({ url: 'ldap://scim.acme.test' }));
  assert.ok(!parse({ url: 'https://scim.acme.test/v2?x=1' }));
  assert.ok(!parse({ max_retry_wait: '5m' }));
  assert.ok(!parse({ token: undefined }));
  const build = (url: string) =>
    scimConnector(
      { name: 'scim-github', type: 'scim', settings: settingsFor() },
      { env: { SCIM_URL: url, SCIM_TOKEN: 'tok' }, dataDir: '/nonexistent' },
    );
  for (const url of ['http://scim.acme.test/v2', 'https://u:secret@scim.acme.test/v2', 'x']) {
    await assert.rejects(build(url), (e: Error) => {
      assert.ok(e instanceof InputError, String(e));
      assert.equal(e.code, 'invalid_connector_settings');
      assert.ok(!e.message.includes('secret'), e.message);
      return true;
    });
  }
  await (await build('http://127.0.0.1:9/v2')).close();
  await (await build('https://scim.acme.test/v2/')).close();
  await assert.rejects(
    scimConnector(
      { name: 'scim-github', type: 'scim', settings: settingsFor() },
      { env: { SCIM_URL: 'https://scim.acme.test' }, dataDir: '/nonexistent' },
    ),
    (e: Error) => e instanceof InputError && e.message.includes('${SCIM_TOKEN}'),
  );
});

test('SCIM answers are classified: what waiting cannot fix is permanent, the rest retried', () => {
  const cases: [number, string, boolean][] = [
    [400, 'target_rejected', false],
    [401, 'target_auth_failed', false],
    [403, 'target_forbidden', false],
    [404, 'target_not_found', false],
    [409, 'target_conflict', true],
    [422, 'target_rejected', false],
    [429, 'target_rate_limited', true],
    [500, 'target_error', true],
    [501, 'target_rejected', false],
    [503, 'target_unavailable', true],
    [504, 'target_timeout', true],
  ];
  for (const [status, code, retryable] of cases) {
    const c = classifyStatus(status);
    assert.deepEqual([c.code, c.retryable], [code, retryable], String(status));
  }
  const transport: [unknown, string, boolean][] = [
    [
      Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
      'target_unreachable',
      true,
    ],
    [
      Object.assign(new Error('Connect Timeout Error'), { code: 'UND_ERR_CONNECT_TIMEOUT' }),
      'target_timeout',
      true,
    ],
    [
      new DOMException('The operation was aborted due to timeout', 'TimeoutError'),
      'target_timeout',
      true,
    ],
    [
      Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }),
      'target_unreachable',
      true,
    ],
    [
      Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }),
      'target_tls_failed',
      false,
    ],
  ];
  for (const [e, code, retryable] of transport) {
    const c = classifyTransport(e);
    assert.deepEqual([c.code, c.retryable], [code, retryable], String((e as Error).message));
  }
  const now = Date.parse('2026-03-02T09:00:00Z');
  assert.equal(retryAfterSeconds('7', now), 7);
  assert.equal(retryAfterSeconds('Mon, 02 Mar 2026 09:00:30 GMT', now), 30);
  assert.equal(retryAfterSeconds('Mon, 02 Mar 2026 08:00:00 GMT', now), 0);
  assert.equal(retryAfterSeconds('soon', now), undefined);
  assert.equal(retryAfterSeconds(undefined, now), undefined);
});
