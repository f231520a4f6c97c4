import assert from 'node:assert/strict';
import { appendFile, cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { configErrorsOf, findIssue } from '../testing/config-issues.js';
import { type ConfigIssue, loadConfigDir } from './load.js';

const ACME = join(process.cwd(), 'src/config/fixtures/acme');
const made: string[] = [];
after(() => Promise.all(made.map((d) => rm(d, { recursive: true, force: true }))));

/** CONFIG.md's example, line for line (the Jira entry's fields start on line 9). */
export const EXAMPLE = [
  '- name: jira',
  '  type: jira',
  '  url: ${JIRA_URL}',
  '  email: ${JIRA_EMAIL}',
  '  api_token: ${JIRA_API_TOKEN}',
  '  webhook_secret: ${JIRA_WEBHOOK_SECRET}',
  '  identity: svc:jira',
  '  match: { attribute: email }',
  '  fields:',
  '    entitlement: customfield_10050',
  '    beneficiary: customfield_10051',
  '    duration: customfield_10052',
  '    reason: summary',
  '  transitions: { approved: Approved, rejected: Declined, done: Done, revoked: Closed }',
  '  approvals_in_ticket: true',
  '  on_ticket_closed: revoke',
  '- name: snow',
  '  type: servicenow',
  '  url: ${SNOW_URL}',
  '  user: ${SNOW_USER}',
  '  password: ${SNOW_PASSWORD}',
  '  identity: svc:servicenow',
  '  match: { attribute: email }',
  '  fields:',
  '    entitlement: variables.gatehouse_entitlement',
  '    beneficiary: variables.requested_for_email',
  '    requester: variables.opened_by_email',
  '    duration: variables.duration',
  '    reason: variables.business_justification',
  '  states: { approved: 2, rejected: 4, done: 3, revoked: 3 }',
  '  ticketed: { risk_at_least: high }',
];

async function withIntegrations(lines: string[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-itsm-config-'));
  made.push(dir);
  await cp(ACME, dir, { recursive: true });
  await appendFile(
    join(dir, 'identities.csv'),
    'svc:jira,service_account,active,Jira integration,support,,,dave@acme.test,,\n' +
      'svc:servicenow,service_account,active,ServiceNow integration,support,,,dave@acme.test,,\n',
  );
  await writeFile(join(dir, 'integrations.yaml'), `${lines.join('\n')}\n`);
  return dir;
}

const errorsOf = configErrorsOf;
const find = (list: ConfigIssue[], line: number, pattern: RegExp) =>
  findIssue(list, 'integrations.yaml', line, pattern);

test("CONFIG.md's integrations.yaml is read with its references kept, never resolved", async () => {
  const { config } = await loadConfigDir(await withIntegrations(EXAMPLE));
  const [jira, snow] = config.settings.integrations ?? [];
  assert.deepEqual(jira, {
    name: 'jira',
    type: 'jira',
    url: '${JIRA_URL}',
    user: '${JIRA_EMAIL}',
    secret: '${JIRA_API_TOKEN}',
    webhookSecret: '${JIRA_WEBHOOK_SECRET}',
    identity: 'svc:jira',
    matchAttribute: 'email',
    fields: {
      entitlement: 'customfield_10050',
      beneficiary: 'customfield_10051',
      duration: 'customfield_10052',
      reason: 'summary',
    },
    steps: { approved: 'Approved', rejected: 'Declined', done: 'Done', revoked: 'Closed' },
    approvalsInTicket: true,
    onTicketClosed: 'revoke',
  });
  assert.equal(snow?.type, 'servicenow');
  assert.equal(snow?.secret, '${SNOW_PASSWORD}');
  assert.deepEqual(snow?.steps, { approved: '2', rejected: '4', done: '3', revoked: '3' });
  assert.equal(snow?.onTicketClosed, 'report', 'the default is to report, never to revoke');
  assert.deepEqual(snow?.ticketed, { riskAtLeast: 'high' });
});

test('a literal credential is refused at its line, without repeating it', async () => {
  const lines = [...EXAMPLE];
  lines[4] = '  api_token: hunter2-literal';
  lines[20] = '  password: s3cret-literal';
  const errors = await errorsOf(await withIntegrations(lines));
  find(errors, 5, /\[0\]\.api_token: .*reference/);
  find(errors, 21, /\[1\]\.password: .*reference/);
  assert.ok(!errors.some((e) => /hunter2|s3cret/.test(e.message)), 'the literal is never repeated');
});

test('each type is checked against its own fields: a typo, a missing secret, an unknown type', async () => {
  const lines = [...EXAMPLE];
  lines[14] = '  approvals_in_tiket: true';
  lines[5] = '  # no webhook secret';
  lines[17] = '  type: remedy';
  const errors = await errorsOf(await withIntegrations(lines));
  find(errors, 15, /unknown field "approvals_in_tiket" \(did you mean "approvals_in_ticket"\?\)/);
  find(errors, 1, /webhook_secret/);
  find(errors, 18, /\[1\]\.type/);
});

test('an integration acting as an identity not in identities.csv is warned about at its line', async () => {
  const lines = [...EXAMPLE];
  lines[6] = '  identity: svc:nobody';
  const { warnings } = await loadConfigDir(await withIntegrations(lines));
  find(warnings, 7, /svc:nobody/);
});

test('two integrations of one name, or a name unfit for a URL, are refused', async () => {
  const lines = [...EXAMPLE];
  lines[16] = '- name: jira';
  const errors = await errorsOf(await withIntegrations(lines));
  find(errors, 17, /defined twice/);
  const bad = [...EXAMPLE];
  bad[0] = '- name: Jira Prod';
  find(await errorsOf(await withIntegrations(bad)), 1, /inbound URL/);
});

const SNOW = EXAMPLE.indexOf('- name: snow');

test('a ticketed Jira integration names the project and issue type its tickets are created as', async () => {
  const lines = [...EXAMPLE];
  lines.splice(
    SNOW,
    0,
    '  ticketed: { risk_at_least: high, project: ITSM, issue_type: Service Request }',
  );
  const { config } = await loadConfigDir(await withIntegrations(lines));
  assert.deepEqual(config.settings.integrations?.[0]?.ticketed, {
    riskAtLeast: 'high',
    project: 'ITSM',
    issueType: 'Service Request',
  });
  const missing = [...EXAMPLE];
  missing.splice(SNOW, 0, '  ticketed: { risk_at_least: high }');
  const errors = await errorsOf(await withIntegrations(missing));
  find(errors, SNOW + 1, /\[0\]\.ticketed\.project/);
  find(errors, SNOW + 1, /\[0\]\.ticketed\.issue_type/);
  const bad = [...EXAMPLE];
  bad.splice(SNOW, 0, '  ticketed: { risk_at_least: high, project: itsm desk, issue_type: Task }');
  find(await errorsOf(await withIntegrations(bad)), SNOW + 1, /project key/);
});
