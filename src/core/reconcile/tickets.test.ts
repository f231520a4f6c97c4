import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { IntegrationConfig } from '../model.js';
import { ticketState } from './tickets.js';

const base = {
  url: 'x',
  user: 'x',
  secret: '${X}',
  identity: 'svc:itsm',
  matchAttribute: 'email',
  fields: { entitlement: 'x' },
  approvalsInTicket: false,
  onTicketClosed: 'report' as const,
};
const jira: IntegrationConfig = {
  ...base,
  name: 'jira',
  type: 'jira',
  steps: { approved: 'Approved', done: 'Done', revoked: 'Closed' },
};
const snow: IntegrationConfig = {
  ...base,
  name: 'snow',
  type: 'servicenow',
  steps: { approved: '2', done: '3', revoked: '3' },
};

test('a Jira ticket is done or closed by the integration’s own transitions, cancelled by its resolution, open otherwise', () => {
  assert.equal(ticketState(jira, { status: 'done' }, false), 'done');
  assert.equal(ticketState(jira, { status: 'Closed' }, false), 'closed');
  assert.equal(ticketState(jira, { status: 'Closed', resolution: "Won't Do" }, false), 'cancelled');
  assert.equal(ticketState(jira, { status: 'Cancelled' }, false), 'cancelled');
  assert.equal(ticketState(jira, { status: 'Approved' }, false), 'open');
});

test('a ServiceNow item closed complete is done while its grant lives and closed once it ended, where done and revoked are one state', () => {
  assert.equal(ticketState(snow, { status: '3' }, false), 'done');
  assert.equal(ticketState(snow, { status: '3' }, true), 'closed');
  assert.equal(ticketState(snow, { status: '4' }, false), 'cancelled');
  assert.equal(ticketState(snow, { status: '7' }, true), 'cancelled');
  assert.equal(ticketState(snow, { status: '2' }, false), 'open');
});
