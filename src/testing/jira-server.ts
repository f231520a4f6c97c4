import type { IncomingMessage, ServerResponse } from 'node:http';
import { listenStandIn } from './stand-in-server.js';

/**
 * A local stand-in for Jira Cloud's REST API v3, as much of it as Gatehouse uses, written from the
 * vendor's documentation rather than from Gatehouse's client (it imports nothing of it):
 *
 * - basic auth with account email + API token (developer.atlassian.com/cloud/jira/platform/basic-auth-for-rest-apis);
 * - `POST /rest/api/3/issue/{key}/comment` with `{ body: <ADF doc> }`, answered 201 with the comment
 *   (developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-comments/#api-rest-api-3-issue-issueidorkey-comment-post;
 *   the ADF shape `{ type: "doc", version: 1, content: [{ type: "paragraph", content: [{ type: "text", text }] }] }`
 *   as in developer.atlassian.com/cloud/jira/platform/apis/document/structure/);
 * - `GET /rest/api/3/issue/{key}/comment` listing `{ comments: [...] }`;
 * - `GET /rest/api/3/issue/{key}/transitions` listing `{ transitions: [{ id, name, to }] }` and
 *   `POST` with `{ transition: { id } }`, 204
 *   (developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-issueidorkey-transitions-post);
 * - `POST /rest/api/3/issue` with `{ fields: { project: { key }, issuetype: { name }, summary,
 *   description: <ADF>, labels } }`, answered 201 `{ id, key, self }`; a missing project or issue
 *   type is a 400 naming the field in `errors`
 *   (developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-post);
 * - `GET /rest/api/3/search/jql?jql=labels = "…"&fields=key&maxResults=n` → `{ issues: [{ id, key }],
 *   isLast }`, only the `labels = "x"` clause (with an optional `ORDER BY created ASC`) understood
 *   (developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-search/#api-rest-api-3-search-jql-get);
 * - `GET /rest/api/3/issue/{key}` → `{ id, key, fields: { status: { name, statusCategory }, … } }`
 *   (developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-issueidorkey-get);
 * - errors as `{ errorMessages: [], errors: {} }`; 429 with `Retry-After`.
 *
 * Strict: a wrong credential is a 401, a body that is not JSON or not `application/json` a 415/400,
 * a comment body that is not ADF a 400, an unknown transition id a 400. It fails on demand
 * (`faults`: a status with headers, or `hang`), and `down()` refuses every connection.
 */
export interface JiraIssue {
  id: string;
  key: string;
  status: string;
  fields: Record<string, unknown>;
  comments: { id: string; text: string; created: string }[];
}

export interface JiraServer {
  url: string;
  email: string;
  apiToken: string;
  issues: Map<string, JiraIssue>;
  /** Every request, in order: what Gatehouse asked. */
  calls: { method: string; path: string; status: number }[];
  /** The next answers to give instead of handling requests. */
  faults: ({ status: number; headers?: Record<string, string> } | 'hang')[];
  /** Creates an issue as if a person had raised it in the portal. */
  addIssue(key: string, fields: Record<string, unknown>, status?: string): JiraIssue;
  /** Refuses (`true`) or accepts again every connection. */
  down(on: boolean): void;
  /** The next request with this method is done as asked, then its connection cut unanswered. */
  loseNext(method: string): void;
  close(): Promise<void>;
}

/** The workflow of the stand-in's service project: every status reachable from every other. */
export const JIRA_WORKFLOW = [
  { id: '11', name: 'Approved' },
  { id: '21', name: 'Declined' },
  { id: '31', name: 'Done' },
  { id: '41', name: 'Closed' },
  { id: '51', name: 'Cancelled' },
];

interface AdfNode {
  type?: unknown;
  text?: unknown;
  content?: unknown;
  version?: unknown;
}

/** The text of an ADF document, or undefined when it is not one (the real API's 400). */
export function adfText(doc: unknown): string | undefined {
  const d = doc as AdfNode | null;
  if (!d || d.type !== 'doc' || d.version !== 1 || !Array.isArray(d.content)) return undefined;
  const lines: string[] = [];
  for (const block of d.content as AdfNode[]) {
    if (block?.type !== 'paragraph' || !Array.isArray(block.content)) return undefined;
    let line = '';
    for (const inline of block.content as AdfNode[]) {
      if (inline?.type === 'text' && typeof inline.text === 'string' && inline.text !== '')
        line += inline.text;
      else if (inline?.type === 'hardBreak') line += '\n';
      else return undefined;
    }
    lines.push(line);
  }
  return lines.join('\n');
}

export async function startJiraServer(
  opts: { email?: string; apiToken?: string } = {},
): Promise<JiraServer> {
  const email = opts.email ?? 'gatehouse@acme.test';
  const apiToken = opts.apiToken ?? 'jira-api-token-0123456789';
  let next = 10000;
  let losing: string | undefined;
  const s: Omit<JiraServer, 'url' | 'close' | 'down' | 'loseNext'> = {
    email,
    apiToken,
    issues: new Map(),
    calls: [],
    faults: [],
    addIssue(key, fields, status = 'Open') {
      const issue = { id: String(next++), key, status, fields, comments: [] };
      s.issues.set(key, issue);
      return issue;
    },
  };

  const answer = (
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    body?: unknown,
    headers: Record<string, string> = {},
  ) => {
    s.calls.push({ method: req.method ?? '', path: req.url ?? '', status });
    if (losing === req.method) {
      losing = undefined;
      res.socket?.destroy();
      return;
    }
    res.writeHead(status, {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    });
    res.end(body === undefined ? undefined : JSON.stringify(body));
  };
  const error = (req: IncomingMessage, res: ServerResponse, status: number, message: string) =>
    answer(req, res, status, { errorMessages: [message], errors: {} });

  const authorised = (req: IncomingMessage) =>
    req.headers.authorization === `Basic ${Buffer.from(`${email}:${apiToken}`).toString('base64')}`;

  async function body(req: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await body(req);
    const fault = s.faults.shift();
    if (fault === 'hang') return; // never answers; the socket is destroyed on close
    if (fault)
      return answer(
        req,
        res,
        fault.status,
        { errorMessages: ['fault'], errors: {} },
        fault.headers,
      );
    if (!authorised(req))
      return error(req, res, 401, 'Client must be authenticated to access this resource.');
    const url = new URL(req.url ?? '/', 'http://jira.local');
    let json: Record<string, unknown> = {};
    if (req.method === 'POST') {
      if (!String(req.headers['content-type'] ?? '').startsWith('application/json'))
        return error(req, res, 415, 'Unsupported Media Type');
      try {
        json = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        return error(req, res, 400, 'Unexpected character in the request body');
      }
    }
    if (req.method === 'GET' && url.pathname === '/rest/api/3/myself')
      return answer(req, res, 200, { accountId: '5b10ac8d82e05b22cc7d4ef5', emailAddress: email });
    if (req.method === 'POST' && url.pathname === '/rest/api/3/issue') {
      const fields = (json.fields ?? {}) as Record<string, unknown>;
      if (typeof fields.summary !== 'string')
        return answer(req, res, 400, { errorMessages: [], errors: { summary: 'required' } });
      const project = (fields.project as { key?: string } | undefined)?.key;
      if (!project)
        return answer(req, res, 400, {
          errorMessages: [],
          errors: { project: 'Specify a valid project ID or key' },
        });
      if (!(fields.issuetype as { name?: string } | undefined)?.name)
        return answer(req, res, 400, {
          errorMessages: [],
          errors: { issuetype: 'Specify an issue type' },
        });
      if (fields.description !== undefined && adfText(fields.description) === undefined)
        return answer(req, res, 400, {
          errorMessages: [],
          errors: { description: 'Operation value must be an Atlassian Document' },
        });
      const issue = s.addIssue(`${project}-${next}`, fields);
      return answer(req, res, 201, {
        id: issue.id,
        key: issue.key,
        self: `${url.origin}/rest/api/3/issue/${issue.id}`,
      });
    }
    if (req.method === 'GET' && url.pathname === '/rest/api/3/search/jql') {
      const jql = url.searchParams.get('jql') ?? '';
      const m = /^labels\s*=\s*"([^"]+)"(\s+ORDER BY created ASC)?$/.exec(jql);
      if (!m) return error(req, res, 400, `The JQL query is not supported here: ${jql}`);
      const max = Number(url.searchParams.get('maxResults') ?? '50');
      const hits = [...s.issues.values()].filter(
        (i) => Array.isArray(i.fields.labels) && (i.fields.labels as unknown[]).includes(m[1]),
      );
      return answer(req, res, 200, {
        issues: hits.slice(0, max).map((i) => ({ id: i.id, key: i.key })),
        isLast: hits.length <= max,
      });
    }
    const one = /^\/rest\/api\/3\/issue\/([^/]+)$/.exec(url.pathname);
    if (one && req.method === 'GET') {
      const found = s.issues.get(decodeURIComponent(one[1]!));
      if (!found)
        return error(
          req,
          res,
          404,
          'Issue does not exist or you do not have permission to see it.',
        );
      const done = ['Done', 'Closed', 'Declined', 'Cancelled'].includes(found.status);
      return answer(req, res, 200, {
        id: found.id,
        key: found.key,
        fields: {
          ...found.fields,
          status: { name: found.status, statusCategory: { key: done ? 'done' : 'new' } },
        },
      });
    }
    const m = /^\/rest\/api\/3\/issue\/([^/]+)\/(comment|transitions)$/.exec(url.pathname);
    const issue = m ? s.issues.get(decodeURIComponent(m[1]!)) : undefined;
    if (!m) return error(req, res, 404, 'No such resource');
    if (!issue)
      return error(req, res, 404, 'Issue does not exist or you do not have permission to see it.');
    if (m[2] === 'comment' && req.method === 'GET')
      return answer(req, res, 200, {
        comments: issue.comments.map((c) => ({
          id: c.id,
          created: c.created,
          body: {
            type: 'doc',
            version: 1,
            content: [{ type: 'paragraph', content: [{ type: 'text', text: c.text }] }],
          },
        })),
        total: issue.comments.length,
      });
    if (m[2] === 'comment' && req.method === 'POST') {
      const text = adfText(json.body);
      if (text === undefined)
        return answer(req, res, 400, {
          errorMessages: [],
          errors: { comment: 'Comment body is not valid Atlassian Document Format.' },
        });
      const c = { id: String(next++), text, created: new Date().toISOString() };
      issue.comments.push(c);
      return answer(req, res, 201, { id: c.id, created: c.created, body: json.body });
    }
    if (m[2] === 'transitions' && req.method === 'GET')
      return answer(req, res, 200, {
        transitions: JIRA_WORKFLOW.filter((t) => t.name !== issue.status).map((t) => ({
          id: t.id,
          name: t.name,
          to: { name: t.name },
        })),
      });
    if (m[2] === 'transitions' && req.method === 'POST') {
      const id = (json.transition as { id?: unknown } | undefined)?.id;
      const t = JIRA_WORKFLOW.find((w) => w.id === id && w.name !== issue.status);
      if (!t)
        return answer(req, res, 400, {
          errorMessages: [`Transition id '${String(id)}' is not valid for this issue.`],
          errors: {},
        });
      issue.status = t.name;
      return answer(req, res, 204);
    }
    return error(req, res, 405, 'Method Not Allowed');
  }

  return {
    ...s,
    loseNext(method) {
      losing = method;
    },
    ...(await listenStandIn(handle)),
  };
}
