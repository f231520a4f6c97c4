import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { listenStandIn } from './stand-in-server.js';

/**
 * A local stand-in for ServiceNow's Table API on `sc_req_item`, written from the vendor's
 * documentation rather than from Gatehouse's client (it imports nothing of it):
 *
 * - basic auth (docs.servicenow.com, "Table API": every call authenticated);
 * - `GET /api/now/table/sc_req_item/{sys_id}` → `{ result: { … } }`;
 * - `PATCH /api/now/table/sc_req_item/{sys_id}` with the fields to change → `{ result: { … } }`;
 *   `work_notes` is a journal field: a value written is appended as a new note, never replacing
 *   the earlier ones (ServiceNow Docs, "Journal fields");
 * - `POST /api/now/table/sc_req_item` → 201 `{ result: { sys_id, number, … } }`;
 * - `GET /api/now/table/sys_journal_field?sysparm_query=element_id=…^element=work_notes^valueLIKE…`:
 *   the journal entries of a record, one row per note (`{ sys_id, element_id, element, name,
 *   value }`), filtered by an encoded query of `^`-joined terms (ServiceNow Docs, "Journal
 *   fields": entries live in sys_journal_field; "Encoded query strings": `=`, `LIKE`);
 * - `GET /api/now/table/sc_req_item?sysparm_query=correlation_id=…`: records by an encoded query;
 * - `state`: 1 open, 2 work in progress, 3 closed complete, 4 closed incomplete, 7 closed skipped;
 * - errors `{ error: { message, detail }, status: "failure" }`; 429 with `Retry-After`.
 *
 * Strict about auth (401), content type (415), JSON (400), unknown state values (400). It fails on
 * demand (`faults`), and `down()` refuses every connection.
 */
export interface SnowRecord {
  sys_id: string;
  number: string;
  state: string;
  variables: Record<string, unknown>;
  /** The journal, oldest first. */
  work_notes: string[];
  [field: string]: unknown;
}

export interface ServiceNowServer {
  url: string;
  user: string;
  password: string;
  records: Map<string, SnowRecord>;
  calls: { method: string; path: string; status: number }[];
  faults: ({ status: number; headers?: Record<string, string> } | 'hang')[];
  /** The next request with this method is done as asked, then its connection cut unanswered. */
  loseNext(method: string): void;
  addRecord(number: string, fields: Partial<SnowRecord>): SnowRecord;
  down(on: boolean): void;
  close(): Promise<void>;
}

const STATES = new Set(['1', '2', '3', '4', '7']);

export async function startServiceNowServer(
  opts: { user?: string; password?: string } = {},
): Promise<ServiceNowServer> {
  const user = opts.user ?? 'gatehouse.integration';
  const password = opts.password ?? 'snow-password-0123456789';
  let seq = 10002;
  const s: Omit<ServiceNowServer, 'url' | 'close' | 'down' | 'loseNext'> = {
    user,
    password,
    records: new Map(),
    calls: [],
    faults: [],
    addRecord(number, fields) {
      const r: SnowRecord = {
        state: '1',
        variables: {},
        ...fields,
        sys_id: fields.sys_id ?? randomBytes(16).toString('hex'),
        number,
        work_notes: [],
      };
      s.records.set(r.sys_id, r);
      return r;
    },
  };

  const answer = (
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ) => {
    s.calls.push({ method: req.method ?? '', path: req.url ?? '', status });
    if (losing === req.method) {
      losing = undefined;
      res.socket?.destroy();
      return;
    }
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };
  const failure = (
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    message: string,
    detail = '',
  ) => answer(req, res, status, { error: { message, detail }, status: 'failure' });

  const authorised = (req: IncomingMessage) =>
    req.headers.authorization === `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

  let losing: string | undefined;
  /** An encoded query's terms (`a=b^cLIKEd`), each a test of one field's text. */
  const matcher = (q: string | null) => {
    const terms = (q ?? '')
      .split('^')
      .filter((t) => t !== '')
      .map((t) => {
        const like = /^(\w+)LIKE(.*)$/.exec(t);
        if (like)
          return (v: Record<string, unknown>) => String(v[like[1]!] ?? '').includes(like[2]!);
        const eq = /^(\w+)=(.*)$/.exec(t);
        if (!eq) throw new Error(`unsupported query term ${t}`);
        return (v: Record<string, unknown>) => String(v[eq[1]!] ?? '') === eq[2];
      });
    return (v: Record<string, unknown>) => terms.every((f) => f(v));
  };
  const journal = () =>
    [...s.records.values()].flatMap((r) =>
      r.work_notes.map((value, n) => ({
        sys_id: `${r.sys_id.slice(0, 28)}${String(n).padStart(4, '0')}`,
        name: 'sc_req_item',
        element: 'work_notes',
        element_id: r.sys_id,
        value,
      })),
    );

  const view = (r: SnowRecord) => ({ ...r, work_notes: r.work_notes.at(-1) ?? '' });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const fault = s.faults.shift();
    if (fault === 'hang') return;
    if (fault)
      return answer(
        req,
        res,
        fault.status,
        { error: { message: 'fault', detail: '' }, status: 'failure' },
        fault.headers,
      );
    if (!authorised(req))
      return failure(
        req,
        res,
        401,
        'User Not Authenticated',
        'Required to provide Auth information',
      );
    const url = new URL(req.url ?? '/', 'http://snow.local');
    if (url.pathname === '/api/now/table/sys_journal_field' && req.method === 'GET') {
      const limit = Number(url.searchParams.get('sysparm_limit') ?? '10000');
      const hits = journal().filter(matcher(url.searchParams.get('sysparm_query')));
      return answer(req, res, 200, { result: hits.slice(0, limit) });
    }
    const m = /^\/api\/now\/table\/sc_req_item(?:\/([0-9a-f]{32}))?$/.exec(url.pathname);
    if (!m) return failure(req, res, 400, 'Invalid table', url.pathname);
    let json: Record<string, unknown> = {};
    if (req.method === 'PATCH' || req.method === 'POST') {
      if (!String(req.headers['content-type'] ?? '').startsWith('application/json'))
        return failure(req, res, 415, 'Unsupported Media Type');
      try {
        json = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        return failure(req, res, 400, 'Exception while reading request', 'not JSON');
      }
      if (json.state !== undefined && !STATES.has(String(json.state)))
        return failure(req, res, 400, 'Invalid state', String(json.state));
    }
    if (!m[1] && req.method === 'POST') {
      const r = s.addRecord(`RITM${String(seq++).padStart(7, '0')}`, json as Partial<SnowRecord>);
      if (typeof json.work_notes === 'string') r.work_notes.push(json.work_notes);
      return answer(req, res, 201, { result: view(r) });
    }
    if (!m[1] && req.method === 'GET') {
      const limit = Number(url.searchParams.get('sysparm_limit') ?? '10000');
      const hits = [...s.records.values()].filter((r) =>
        matcher(url.searchParams.get('sysparm_query'))(r),
      );
      return answer(req, res, 200, { result: hits.slice(0, limit).map(view) });
    }
    const r = m[1] ? s.records.get(m[1]) : undefined;
    if (!r)
      return failure(
        req,
        res,
        404,
        'No Record found',
        "Record doesn't exist or ACL restricts the record retrieval",
      );
    if (req.method === 'GET') return answer(req, res, 200, { result: view(r) });
    if (req.method === 'PATCH') {
      for (const [k, v] of Object.entries(json)) {
        if (k === 'work_notes') r.work_notes.push(String(v));
        else if (k === 'state') r.state = String(v);
        else if (k !== 'sys_id' && k !== 'number') r[k] = v;
      }
      return answer(req, res, 200, { result: view(r) });
    }
    return failure(req, res, 405, 'Method not Supported');
  }

  return {
    ...s,
    loseNext(method) {
      losing = method;
    },
    ...(await listenStandIn(handle)),
  };
}
