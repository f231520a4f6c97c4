import { createHmac, randomUUID } from 'node:crypto';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildServer } from '../http/server.js';
import { migrationFiles } from '../store/migrate.js';
import { configVariant } from './config-variant.js';
import type { Harness } from './harness.js';
import { type JiraServer, startJiraServer } from './jira-server.js';
import { type ServiceNowServer, startServiceNowServer } from './servicenow-server.js';

export const JIRA_WEBHOOK_SECRET = 'jira-webhook-secret-5f2b9c';
export const SNOW_WEBHOOK_SECRET = 'snow-webhook-secret-81d3aa';

/** integrations.yaml for both stand-ins; people matched by identity id (Acme's ids are emails). */
export const INTEGRATIONS = `- name: jira
  type: jira
  url: \${JIRA_URL}
  email: \${JIRA_EMAIL}
  api_token: \${JIRA_API_TOKEN}
  webhook_secret: \${JIRA_WEBHOOK_SECRET}
  identity: svc:jira
  match: { attribute: id }
  fields:
    entitlement: customfield_10050
    beneficiary: customfield_10051
    duration: customfield_10052
    reason: summary
  transitions: { approved: Approved, rejected: Declined, done: Done, revoked: Closed }
  approvals_in_ticket: true
  on_ticket_closed: revoke
- name: snow
  type: servicenow
  url: \${SNOW_URL}
  user: \${SNOW_USER}
  password: \${SNOW_PASSWORD}
  webhook_secret: \${SNOW_WEBHOOK_SECRET}
  identity: svc:servicenow
  match: { attribute: id }
  fields:
    entitlement: variables.gatehouse_entitlement
    beneficiary: variables.requested_for_email
    requester: variables.opened_by_email
    duration: variables.duration
    reason: variables.business_justification
  states: { approved: 2, rejected: 4, done: 3, revoked: 3 }
  approvals_in_ticket: true
  on_ticket_closed: revoke
`;

/** The demo configuration with both integrations and their service identities. */
export function itsmConfig(parent: string, integrations = INTEGRATIONS): string {
  return configVariant(parent, {
    'integrations.yaml': () => integrations,
    'identities.csv': (t) =>
      `${t.trimEnd()}\nsvc:jira,service_account,active,Jira integration,support,,,dave@acme.test\nsvc:servicenow,service_account,active,ServiceNow integration,support,,,dave@acme.test\n`,
  });
}

export interface ItsmFixture {
  jira: JiraServer;
  snow: ServiceNowServer;
  server: FastifyInstance;
  /** A Jira admin webhook for an issue, signed (or with the signature given), sent now. */
  jiraHook(
    issue: { key: string; fields: Record<string, unknown> },
    o?: {
      event?: string;
      delivery?: string;
      signature?: string;
      sentAt?: number;
      /** More of the webhook's top level: `user`, `changelog`, `comment`. */
      extra?: Record<string, unknown>;
    },
  ): Promise<LightMyRequestResponse>;
  /** A ServiceNow business rule's post of an sc_req_item record. */
  snowHook(
    record: Record<string, unknown>,
    o?: { token?: string; signature?: string | null; sentAt?: number },
  ): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

export const sign = (secret: string, raw: string) =>
  `sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`;

/**
 * Both stand-ins started, their addresses and credentials in this process's environment (where
 * integrations.yaml's references resolve), and the HTTP server in front of the harness's store.
 */
export async function itsmFixture(h: Harness): Promise<ItsmFixture> {
  const jira = await startJiraServer();
  const snow = await startServiceNowServer();
  Object.assign(process.env, {
    JIRA_URL: jira.url,
    JIRA_EMAIL: jira.email,
    JIRA_API_TOKEN: jira.apiToken,
    JIRA_WEBHOOK_SECRET,
    SNOW_URL: snow.url,
    SNOW_USER: snow.user,
    SNOW_PASSWORD: snow.password,
    SNOW_WEBHOOK_SECRET,
  });
  const server = await buildServer(h.app(), {
    schemaVersion: migrationFiles().at(-1)!.version,
    onInternalError: (_id, e) => {
      throw e;
    },
  });
  const post = (url: string, raw: string, headers: Record<string, string>) =>
    server.inject({
      method: 'POST',
      url,
      payload: raw,
      headers: { 'content-type': 'application/json', ...headers },
    });
  return {
    jira,
    snow,
    server,
    jiraHook(issue, o = {}) {
      const raw = JSON.stringify({
        timestamp: o.sentAt ?? Date.parse(h.now),
        webhookEvent: o.event ?? 'jira:issue_created',
        issue: { id: String(Math.floor(Math.random() * 1e6)), ...issue },
        ...o.extra,
      });
      return post('/hooks/jira', raw, {
        'x-hub-signature': o.signature ?? sign(JIRA_WEBHOOK_SECRET, raw),
        'x-atlassian-webhook-identifier': o.delivery ?? randomUUID(),
      });
    },
    snowHook(record, o = {}) {
      const raw = JSON.stringify({ ...record, timestamp: o.sentAt ?? Date.parse(h.now) });
      const headers: Record<string, string> = {};
      if (o.token) headers.authorization = `Bearer ${o.token}`;
      else if (o.signature !== null)
        headers['x-gatehouse-signature'] = o.signature ?? sign(SNOW_WEBHOOK_SECRET, raw);
      return post('/hooks/snow', raw, headers);
    },
    async close() {
      await server.close();
      await jira.close();
      await snow.close();
    },
  };
}
