import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TargetError } from '../core/errors.js';
import type { IntegrationConfig } from '../core/model.js';
import { type JiraServer, startJiraServer } from '../testing/jira-server.js';
import { type ServiceNowServer, startServiceNowServer } from '../testing/servicenow-server.js';
import { itsmSource } from './itsm.js';

let jira: JiraServer;
let snow: ServiceNowServer;
before(async () => {
  jira = await startJiraServer();
  snow = await startServiceNowServer();
});
after(async () => {
  await jira.close();
  await snow.close();
});

const base = {
  identity: 'svc:itsm',
  matchAttribute: 'email',
  fields: { entitlement: 'x' },
  approvalsInTicket: false,
  onTicketClosed: 'report' as const,
};
const jiraCfg: IntegrationConfig = {
  ...base,
  name: 'jira',
  type: 'jira',
  url: '${JIRA_URL}',
  user: '${JIRA_EMAIL}',
  secret: '${JIRA_API_TOKEN}',
  webhookSecret: '${JIRA_WEBHOOK_SECRET}',
  steps: { done: 'Done' },
};
const snowCfg: IntegrationConfig = {
  ...base,
  name: 'snow',
  type: 'servicenow',
  url: '${SNOW_URL}',
  user: '${SNOW_USER}',
  secret: '${SNOW_PASSWORD}',
  steps: { done: '3' },
};
const env = () => ({
  JIRA_URL: jira.url,
  JIRA_EMAIL: jira.email,
  JIRA_API_TOKEN: jira.apiToken,
  JIRA_WEBHOOK_SECRET: 'whsec',
  SNOW_URL: snow.url,
  SNOW_USER: snow.user,
  SNOW_PASSWORD: snow.password,
});

async function failure(p: Promise<unknown>): Promise<TargetError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof TargetError, String(e));
    return e;
  }
  assert.fail('expected a TargetError');
}

test('a Jira update is an ADF comment and then the transition of that name, by its id', async () => {
  jira.addIssue('ITSM-1', { summary: 'access' });
  const w = itsmSource({ env: env() }).writer(jiraCfg);
  await w.update('ITSM-1', {
    text: 'first line\nsecond line [gh:1]',
    step: 'Done',
    marker: '[gh:1]',
  });
  const issue = jira.issues.get('ITSM-1')!;
  assert.deepEqual(
    issue.comments.map((c) => c.text),
    ['first line\nsecond line [gh:1]'],
  );
  assert.equal(issue.status, 'Done');
  // The same update again (an answer lost on the way) finds its comment and writes none.
  await w.update('ITSM-1', { text: 'first line\nsecond line [gh:1]', marker: '[gh:1]' });
  assert.equal(issue.comments.length, 1);
});

test('the Jira stand-in refuses a comment that is not ADF, and a transition id it does not offer', async () => {
  jira.addIssue('ITSM-2', { summary: 'access' });
  const auth = `Basic ${Buffer.from(`${jira.email}:${jira.apiToken}`).toString('base64')}`;
  const post = (path: string, body: unknown) =>
    fetch(`${jira.url}${path}`, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  assert.equal((await post('/rest/api/3/issue/ITSM-2/comment', { body: 'plain' })).status, 400);
  assert.equal(
    (await post('/rest/api/3/issue/ITSM-2/transitions', { transition: { id: '999' } })).status,
    400,
  );
  const noType = await fetch(`${jira.url}/rest/api/3/issue/ITSM-2/comment`, {
    method: 'POST',
    headers: { authorization: auth },
    body: '{}',
  });
  assert.equal(noType.status, 415);
});

test('a transition the workflow does not offer is a permanent failure naming the ones it does', async () => {
  jira.addIssue('ITSM-3', { summary: 'access' });
  const w = itsmSource({ env: env() }).writer({ ...jiraCfg });
  const e = await failure(w.update('ITSM-3', { text: 'x', step: 'Resolved', marker: '[gh:3]' }));
  assert.equal(e.code, 'transition_unavailable');
  assert.equal(e.retryable, false);
  assert.match(e.message, /offers Approved, Declined, Done/);
});

test('a wrong credential is permanent and never repeated; a 429 is retried after its Retry-After; a system down is retried', async () => {
  jira.addIssue('ITSM-4', { summary: 'access' });
  const wrong = itsmSource({ env: { ...env(), JIRA_API_TOKEN: 'wrong-token-value' } }).writer(
    jiraCfg,
  );
  const denied = await failure(wrong.update('ITSM-4', { text: 'x', marker: '[gh:4]' }));
  assert.equal(denied.retryable, false);
  assert.ok(!denied.message.includes('wrong-token-value'));
  jira.faults.push({ status: 429, headers: { 'retry-after': '120' } });
  const w = itsmSource({ env: env() }).writer(jiraCfg);
  const limited = await failure(w.update('ITSM-4', { text: 'x', marker: '[gh:4]' }));
  assert.equal(limited.retryable, true);
  assert.equal(limited.retryAfterSeconds, 120);
  jira.down(true);
  const down = await failure(w.update('ITSM-4', { text: 'x', marker: '[gh:4]' }));
  jira.down(false);
  assert.equal(down.retryable, true);
});

test('a ServiceNow update is one PATCH of the work note and the mapped state', async () => {
  const r = snow.addRecord('RITM0010001', { variables: {} });
  const w = itsmSource({ env: env() }).writer(snowCfg);
  await w.update(r.sys_id, { text: 'verified', step: '3', marker: '[gh:5]' });
  assert.deepEqual(r.work_notes, ['verified']);
  assert.equal(r.state, '3');
  assert.deepEqual(snow.calls.at(-1), {
    method: 'PATCH',
    path: `/api/now/table/sc_req_item/${r.sys_id}`,
    status: 200,
  });
  const missing = await failure(w.update('0'.repeat(32), { text: 'x', marker: '[gh:6]' }));
  assert.equal(missing.retryable, false);
  snow.faults.push({ status: 503 });
  assert.equal(
    (await failure(w.update(r.sys_id, { text: 'x', marker: '[gh:7]' }))).retryable,
    true,
  );
});

test('integrations test reaches each system with its credentials', async () => {
  const src = itsmSource({ env: env() });
  assert.match((await src.writer(jiraCfg).check())[0]!, /signed in/);
  assert.match((await src.writer(snowCfg).check())[0]!, /read sc_req_item/);
  assert.equal(src.webhookSecret(jiraCfg), 'whsec');
  assert.equal(src.webhookSecret(snowCfg), undefined);
});

test('a ServiceNow update retried after its answer was lost finds its note in the journal and does not append it again', async () => {
  const r = snow.addRecord('RITM0010009', { variables: {} });
  const w = itsmSource({ env: env() }).writer(snowCfg);
  // The lost one: the journal read passes, the PATCH is done and its answer cut.
  const lose = async () => {
    const done = w.update(r.sys_id, { text: 'verified [gh:10]', step: '3', marker: '[gh:10]' });
    return done.then(
      () => 'answered',
      (e: unknown) => (e instanceof TargetError ? e.code : String(e)),
    );
  };
  snow.loseNext('PATCH');
  assert.notEqual(await lose(), 'answered', 'the answer was lost');
  assert.deepEqual(r.work_notes, ['verified [gh:10]'], 'yet the note landed');
  assert.equal(await lose(), 'answered');
  assert.deepEqual(r.work_notes, ['verified [gh:10]'], 'the retry appended nothing');
  assert.equal(r.state, '3', 'and still set the state');
});
