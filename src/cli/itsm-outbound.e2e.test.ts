import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Harness, harness } from '../testing/harness.js';
import { INTEGRATIONS, type ItsmFixture, itsmConfig, itsmFixture } from '../testing/itsm.js';

const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-outbound-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** The stand-ins' integrations with one of them marking high-risk requests `ticketed`. */
function ticketedIn(system: 'jira' | 'snow'): string {
  const [jira, snow] = INTEGRATIONS.split(/(?=^- name: snow$)/m) as [string, string];
  return system === 'jira'
    ? `${jira}  ticketed: { risk_at_least: high, project: ACCESS, issue_type: Service Request }\n${snow}`
    : `${jira}${snow}  ticketed: { risk_at_least: high }\n`;
}

interface System {
  name: 'jira' | 'snow';
  prefix: RegExp;
  /** The tickets the stand-in holds for a request (by the correlation key Gatehouse writes). */
  ticketsFor(f: ItsmFixture, request: string): { key: string; notes: string[]; status: string }[];
  done: string;
  fail(f: ItsmFixture, on: boolean): void;
  loseCreate(f: ItsmFixture): void;
}

const SYSTEMS: System[] = [
  {
    name: 'jira',
    prefix: /^JIRA:ACCESS-\d+$/,
    ticketsFor: (f, request) =>
      [...f.jira.issues.values()]
        .filter((i) => (i.fields.labels as string[] | undefined)?.includes(`gatehouse-${request}`))
        .map((i) => ({ key: i.key, notes: i.comments.map((c) => c.text), status: i.status })),
    done: 'Done',
    fail: (f, on) => f.jira.down(on),
    loseCreate: (f) => f.jira.loseNext('POST'),
  },
  {
    name: 'snow',
    prefix: /^SNOW:RITM\d{7}$/,
    ticketsFor: (f, request) =>
      [...f.snow.records.values()]
        .filter((r) => r.correlation_id === request)
        .map((r) => ({ key: r.sys_id, notes: r.work_notes, status: r.state })),
    done: '3',
    fail: (f, on) => f.snow.down(on),
    loseCreate: (f) => f.snow.loseNext('POST'),
  },
];

for (const sys of SYSTEMS) {
  describe(`outbound tickets in ${sys.name}`, () => {
    let h: Harness;
    let f: ItsmFixture;
    before(async () => {
      h = await harness({ config: itsmConfig(tmp, ticketedIn(sys.name)) });
      f = await itsmFixture(h);
    });
    after(async () => {
      await f?.close();
      await h?.close();
    });

    /** A sweep; `retrying`: some work is expected to fail and wait (exit 3, said on stderr). */
    const sweep = async (retrying = false) => {
      const r = await h.cli(['sweep']);
      assert.equal(r.code, retrying ? 3 : 0, r.stderr);
      if (retrying) assert.match(r.stderr, /retrying: itsm\.open/);
    };
    const request = (beneficiary: string) =>
      h.cli([
        'request',
        'erp:vendor-create',
        '--for',
        beneficiary,
        '--reason',
        'vendor onboarding',
        '--as',
        beneficiary,
      ]);
    const one = (request: string) => {
      const t = sys.ticketsFor(f, request);
      assert.equal(t.length, 1, `one ticket for ${request}, not ${t.length}`);
      return t[0]!;
    };

    test('a CLI request for a ticketed entitlement opens a ticket, which hears the decision, the approval and the verified provisioning, then is done', async () => {
      const r = await request('bob@acme.test');
      assert.equal(r.code, 0, r.stderr);
      const id = r.json.id as string;
      assert.equal(r.json.status, 'pending_approval');
      await sweep();
      const opened = one(id);
      assert.match(opened.notes[0] ?? '', new RegExp(`${id}: needs approval`));
      const shown = (await h.cli(['requests', '--status', 'pending_approval'])).json.requests.find(
        (x: { id: string }) => x.id === id,
      );
      assert.match(shown.ticket, sys.prefix, 'the request records its ticket');

      for (const stage of r.json.approval.stages as { approvers: string[] }[]) {
        const ok = await h.cli(['approve', id, '--as', stage.approvers[0]!]);
        assert.equal(ok.code, 0, ok.stderr);
      }
      h.advance(60);
      await sweep();
      assert.deepEqual(await h.members('erp_vendor_create'), ['bob@acme.test']);
      const t = one(id);
      assert.match(t.notes.at(-1)!, new RegExp(`${id}: access provisioned and verified`));
      assert.match(t.notes.join('\n'), /every approval given/);
      assert.equal(t.status, sys.done, 'done only once verified');
      assert.ok(
        t.notes.findIndex((n) => /needs approval/.test(n)) <
          t.notes.findIndex((n) => /every approval given/.test(n)),
        'decision before approval before verified',
      );
      const trace = await h.cli(['audit', 'trace', id]);
      const opening = trace.json.events.find(
        (e: { action: string }) => e.action === 'itsm.ticket_opened',
      );
      assert.equal(opening.subject, shown.ticket, 'the audit trail names the ticket');
    });

    test('a request made through the API opens a ticket too, shown by GET /api/v1/requests/{id}', async () => {
      const t = await h.cli([
        'token',
        'create',
        '--identity',
        'alice@acme.test',
        '--scopes',
        'request,read',
      ]);
      assert.equal(t.code, 0, t.stderr);
      const auth = { authorization: `Bearer ${t.json.token}` };
      const made = await f.server.inject({
        method: 'POST',
        url: '/api/v1/requests',
        headers: auth,
        payload: {
          entitlement: 'erp:vendor-create',
          beneficiary: 'alice@acme.test',
          reason: 'vendor onboarding',
        },
      });
      assert.equal(made.statusCode, 201, made.body);
      const id = (made.json() as { id: string }).id;
      await sweep();
      one(id);
      const got = await f.server.inject({
        method: 'GET',
        url: `/api/v1/requests/${id}`,
        headers: auth,
      });
      assert.match((got.json() as { ticket: string }).ticket, sys.prefix);
    });

    test("the system's own hook announcing a ticket Gatehouse opened makes no request and no refusal", async () => {
      const r = await request('dan@acme.test');
      assert.equal(r.code, 0, r.stderr);
      const id = r.json.id as string;
      const res =
        sys.name === 'jira'
          ? await f.jiraHook({
              key: 'ACCESS-9001',
              fields: { summary: 'x', labels: [`gatehouse-${id}`], reporter: { accountId: 'a' } },
            })
          : await f.snowHook({
              sys_id: 'a'.repeat(32),
              number: 'RITM0099001',
              state: '1',
              correlation_id: id,
              opened_by: 'svc',
              variables: {},
            });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().request, id);
      const refused = await h.store.sql.query(
        `SELECT 1 FROM audit_events WHERE action = 'itsm.ticket_refused' AND details ->> 'integration' = $1`,
        [sys.name],
      );
      assert.equal(refused.length, 0);
      const [c] = await h.store.sql.query<{ n: number | string }>(
        `SELECT count(*) AS n FROM requests WHERE beneficiary = 'dan@acme.test' AND entitlement = 'erp:vendor-create'`,
      );
      assert.equal(Number(c?.n), 1);
    });

    test('a request made from a ticket, or for an entitlement below the risk, opens none', async () => {
      const low = await h.cli([
        'request',
        'analytics:reader',
        '--for',
        'dan@acme.test',
        '--reason',
        'reports',
        '--as',
        'dan@acme.test',
      ]);
      assert.equal(low.code, 0, low.stderr);
      await sweep();
      assert.equal(sys.ticketsFor(f, low.json.id).length, 0);
    });

    test('an answer lost after the ticket was made: the retry finds it, and there is one ticket', async () => {
      const r = await request('heidi@acme.test');
      assert.equal(r.code, 0, r.stderr);
      const id = r.json.id as string;
      sys.loseCreate(f);
      await sweep(true);
      assert.equal(sys.ticketsFor(f, id).length, 1, 'made, though Gatehouse did not hear it');
      const [row] = await h.store.sql.query('SELECT 1 FROM itsm_tickets WHERE request_id = $1', [
        id,
      ]);
      assert.equal(row, undefined, 'not recorded until an answer says which');
      h.advance(120);
      await sweep();
      const t = one(id);
      assert.equal(t.notes.filter((n) => /needs approval/.test(n)).length, 1);
      const [opened] = await h.store.sql.query<{ details: { found: boolean } }>(
        `SELECT details FROM audit_events WHERE action = 'itsm.ticket_opened' AND $1 = ANY (refs)`,
        [id],
      );
      assert.equal(opened?.details.found, true);
    });

    test('the ITSM down for a while: the ticket is opened once when it is back, with the decision', async () => {
      sys.fail(f, true);
      const r = await request('grace@acme.test');
      assert.equal(r.code, 0, r.stderr);
      const id = r.json.id as string;
      await sweep(true);
      h.advance(600);
      await h.cli(['sweep']); // a retry, if one is due yet, fails again

      assert.equal(sys.ticketsFor(f, id).length, 0);
      const [job] = await h.store.sql.query<{ state: string; last_error: string | null }>(
        `SELECT state, last_error FROM jobs WHERE kind = 'itsm.open' AND payload ->> 'request' = $1`,
        [id],
      );
      assert.equal(job?.state, 'pending', 'a visible pending opening, retried');
      assert.ok(job?.last_error);
      const report = await h.cli(['report']);
      assert.ok(report.json.ticket_updates.failing >= 1, 'a failing opening is visible in report');
      sys.fail(f, false);
      h.advance(3600);
      await sweep();
      const t = one(id);
      assert.equal(t.notes.filter((n) => new RegExp(`${id}: needs approval`).test(n)).length, 1);
    });
  });
}
