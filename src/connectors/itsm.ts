import { TargetError } from '../core/errors.js';
import type { IntegrationConfig } from '../core/model.js';
import type { ItsmSource, NewTicket, TicketUpdate, TicketWriter } from '../core/ports/itsm.js';
import { scrubSecrets } from '../core/secrets.js';
import { resolveSetting } from './env.js';
import { classifyStatus, classifyTransport, retryAfterSeconds } from './scim-errors.js';

/** One call's bound; the job runtime bounds the whole update too. */
const CALL_TIMEOUT_MS = 10_000;

interface Resolved {
  url: string;
  auth: string;
  known: string[];
}

function resolve(i: IntegrationConfig, env: NodeJS.ProcessEnv): Resolved {
  const what = `integration ${i.name}`;
  const url = resolveSetting(what, 'url', i.url, env).replace(/\/+$/, '');
  const user = resolveSetting(what, i.type === 'jira' ? 'email' : 'user', i.user, env);
  const secret = resolveSetting(what, i.type === 'jira' ? 'api_token' : 'password', i.secret, env);
  const auth = Buffer.from(`${user}:${secret}`).toString('base64');
  return { url, auth: `Basic ${auth}`, known: [secret, auth] };
}

/** One JSON call; an error answer or no answer becomes a TargetError the runtime can act on. */
async function call(
  r: Resolved,
  system: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(`${r.url}${path}`, {
      method,
      headers: {
        authorization: r.auth,
        accept: 'application/json',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
    });
  } catch (e) {
    const c = classifyTransport(e);
    throw new TargetError(
      scrubSecrets(`${system}: ${method} ${path}: no answer (${c.code})`, r.known),
      { code: c.code, retryable: c.retryable },
    );
  }
  const text = await res.text().catch(() => '');
  if (res.ok) return text === '' ? undefined : (JSON.parse(text) as unknown);
  const c = classifyStatus(res.status);
  const after = retryAfterSeconds(res.headers.get('retry-after') ?? undefined, Date.now());
  throw new TargetError(
    scrubSecrets(
      `${system}: ${method} ${path} answered HTTP ${res.status}: ${errorText(text)}`,
      r.known,
    ),
    {
      code: c.code,
      retryable: c.retryable,
      ...(after !== undefined ? { retryAfterSeconds: after } : {}),
    },
  );
}

/** The vendor's own error words: Jira `errorMessages`/`errors`, ServiceNow `error.message`. */
function errorText(text: string): string {
  try {
    const j = JSON.parse(text) as {
      errorMessages?: string[];
      errors?: Record<string, string>;
      error?: { message?: string; detail?: string };
    };
    const parts = [
      ...(j.errorMessages ?? []),
      ...Object.entries(j.errors ?? {}).map(([k, v]) => `${k}: ${v}`),
      ...(j.error?.message ? [j.error.message] : []),
    ];
    return parts.join('; ').slice(0, 300) || '(no message)';
  } catch {
    return '(no message)';
  }
}

/** Plain text as an Atlassian Document Format document: one paragraph per line. */
export function adf(text: string) {
  return {
    type: 'doc',
    version: 1,
    content: text
      .split('\n')
      .filter((l) => l !== '')
      .map((line) => ({ type: 'paragraph', content: [{ type: 'text', text: line }] })),
  };
}

function jiraWriter(i: IntegrationConfig, env: NodeJS.ProcessEnv): TicketWriter {
  const r = () => resolve(i, env);
  const issue = (key: string) => `/rest/api/3/issue/${encodeURIComponent(key)}`;
  return {
    // Found by a label naming the request; Jira's search index trails a create by seconds, and the
    // retry's backoff (30 s first) is longer than that.
    async open(t: NewTicket) {
      const c = r();
      const label = `gatehouse-${t.correlation}`;
      const jql = `labels = "${label}" ORDER BY created ASC`;
      const found = (await call(
        c,
        'jira',
        'GET',
        `/rest/api/3/search/jql?jql=${encodeURIComponent(jql)}&fields=key&maxResults=1`,
      )) as { issues?: { key?: string }[] };
      const hit = found.issues?.[0]?.key;
      if (hit) return { ticket: `JIRA:${hit}`, key: hit, found: true };
      const where = i.ticketed;
      if (!where?.project || !where.issueType)
        throw new TargetError(
          `jira: integration ${i.name} names no ticketed.project and ticketed.issue_type to open tickets in`,
          { code: 'integration_misconfigured', retryable: false },
        );
      const made = (await call(c, 'jira', 'POST', '/rest/api/3/issue', {
        fields: {
          project: { key: where.project },
          issuetype: { name: where.issueType },
          summary: t.summary,
          description: adf(t.text),
          labels: [label],
        },
      })) as { key?: string };
      if (!made?.key)
        throw new TargetError('jira: POST /rest/api/3/issue answered no key', {
          code: 'bad_answer',
        });
      return { ticket: `JIRA:${made.key}`, key: made.key, found: false };
    },
    async update(key, u: TicketUpdate) {
      const c = r();
      // A comment is not idempotent: after an answer lost on the way, the retry finds its marker.
      const listed = (await call(
        c,
        'jira',
        'GET',
        `${issue(key)}/comment?orderBy=-created&maxResults=50`,
      )) as {
        comments?: { body?: unknown }[];
      };
      const already = (listed.comments ?? []).some((cm) =>
        JSON.stringify(cm.body).includes(u.marker),
      );
      if (!already) await call(c, 'jira', 'POST', `${issue(key)}/comment`, { body: adf(u.text) });
      if (!u.step) return;
      const { transitions = [] } = (await call(c, 'jira', 'GET', `${issue(key)}/transitions`)) as {
        transitions?: { id: string; name: string; to?: { name?: string } }[];
      };
      const want = u.step.toLowerCase();
      const t = transitions.find(
        (x) => x.name.toLowerCase() === want || x.to?.name?.toLowerCase() === want,
      );
      if (!t) {
        // A person may have moved the issue there already (an approval relayed by the ticket).
        const now = (await call(c, 'jira', 'GET', `${issue(key)}?fields=status`)) as {
          fields?: { status?: { name?: string } };
        };
        if (now.fields?.status?.name?.toLowerCase() === want) return;
        throw new TargetError(
          `jira: ${key} offers no transition "${u.step}" (it offers ${transitions.map((x) => x.name).join(', ') || 'none'}); check transitions in integrations.yaml`,
          { code: 'transition_unavailable', retryable: false },
        );
      }
      await call(c, 'jira', 'POST', `${issue(key)}/transitions`, { transition: { id: t.id } });
    },
    async read(key) {
      const got = (await call(r(), 'jira', 'GET', `${issue(key)}?fields=status,resolution`)) as {
        fields?: { status?: { name?: string }; resolution?: { name?: string } | null };
      };
      const resolution = got.fields?.resolution?.name;
      return {
        status: got.fields?.status?.name ?? '',
        ...(resolution ? { resolution } : {}),
      };
    },
    async check() {
      const c = r();
      await call(c, 'jira', 'GET', '/rest/api/3/myself');
      return [`jira: signed in at ${c.url}`];
    },
  };
}

function serviceNowWriter(i: IntegrationConfig, env: NodeJS.ProcessEnv): TicketWriter {
  const r = () => resolve(i, env);
  const record = (sysId: string) => `/api/now/table/sc_req_item/${encodeURIComponent(sysId)}`;
  return {
    // Found by correlation_id, the field the Table API keeps for an external system's key.
    async open(t: NewTicket) {
      const c = r();
      const query = `correlation_id=${t.correlation}`;
      const found = (await call(
        c,
        'servicenow',
        'GET',
        `/api/now/table/sc_req_item?sysparm_query=${encodeURIComponent(query)}&sysparm_fields=sys_id,number&sysparm_limit=1`,
      )) as { result?: { sys_id?: string; number?: string }[] } | undefined;
      const hit = found?.result?.[0];
      if (hit?.sys_id && hit.number)
        return { ticket: `SNOW:${hit.number}`, key: hit.sys_id, found: true };
      const made = (await call(c, 'servicenow', 'POST', '/api/now/table/sc_req_item', {
        short_description: t.summary,
        description: t.text,
        correlation_id: t.correlation,
        correlation_display: 'Gatehouse',
        ...(i.ticketed?.catalogItem ? { cat_item: i.ticketed.catalogItem } : {}),
      })) as { result?: { sys_id?: string; number?: string } } | undefined;
      const r2 = made?.result;
      if (!r2?.sys_id || !r2.number)
        throw new TargetError('servicenow: POST /api/now/table/sc_req_item answered no sys_id', {
          code: 'bad_answer',
        });
      return { ticket: `SNOW:${r2.number}`, key: r2.sys_id, found: false };
    },
    // One PATCH carries the note and the state together, so they land or fail as one. A work
    // note is a journal entry, appended each time: after an answer lost on the way, the retry
    // finds its marker in the record's journal (sys_journal_field) and only sets the state.
    async update(key, u: TicketUpdate) {
      const c = r();
      const query = `element_id=${key}^element=work_notes^valueLIKE${u.marker}`;
      const found = (await call(
        c,
        'servicenow',
        'GET',
        `/api/now/table/sys_journal_field?sysparm_query=${encodeURIComponent(query)}&sysparm_fields=sys_id&sysparm_limit=1`,
      )) as { result?: unknown[] } | undefined;
      const already = (found?.result ?? []).length > 0;
      if (already && !u.step) return;
      await call(c, 'servicenow', 'PATCH', record(key), {
        ...(already ? {} : { work_notes: u.text }),
        ...(u.step ? { state: u.step } : {}),
      });
    },
    async read(key) {
      const got = (await call(
        r(),
        'servicenow',
        'GET',
        `${record(key)}?sysparm_fields=state,number`,
      )) as { result?: { state?: unknown } };
      return { status: String(got.result?.state ?? '') };
    },
    async check() {
      const c = r();
      await call(c, 'servicenow', 'GET', '/api/now/table/sc_req_item?sysparm_limit=1');
      return [`servicenow: read sc_req_item at ${c.url}`];
    },
  };
}

/** Writers built from the integration as configured; credentials resolved from `env` per call. */
export function itsmSource(ctx: { env: NodeJS.ProcessEnv }): ItsmSource {
  return {
    writer: (i) => (i.type === 'jira' ? jiraWriter(i, ctx.env) : serviceNowWriter(i, ctx.env)),
    webhookSecret: (i) =>
      i.webhookSecret === undefined
        ? undefined
        : resolveSetting(`integration ${i.name}`, 'webhook_secret', i.webhookSecret, ctx.env),
  };
}
