import { InputError } from '../errors.js';
import type { IntegrationConfig } from '../model.js';

/** What a delivery says about one ticket, whichever system sent it. */
export interface TicketEvent {
  /** `JIRA:ITSM-42`, `SNOW:RITM0010001`: what the request records. */
  ticket: string;
  /** What the write-back addresses: the Jira issue key, the ServiceNow record's sys_id. */
  key: string;
  /** Where the ticket stands: open (asking, or being worked), closed, or cancelled. */
  status: 'open' | 'closed' | 'cancelled';
  /** The reporter (Jira) or opened_by (ServiceNow), as the system gives it. */
  reporter: string | undefined;
  /** What the field map's dotted paths are read from. */
  record: Record<string, unknown>;
  /** The signed send time, where the system includes one (milliseconds since the epoch). */
  sentAt: number | undefined;
  /** An approval given in the ticket, naming the person: Gatehouse decides whether it counts. */
  approval?: RelayedApproval;
}

/** A person's approval or rejection, as the ticket relays it. */
export interface RelayedApproval {
  /** The person as the system names them, for the integration's `match` attribute. */
  person: string | undefined;
  verdict: 'approve' | 'reject';
  comment: string;
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | undefined =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : undefined;

/**
 * A field's value as text. Jira gives people and options as objects (`{ emailAddress }`,
 * `{ value }`); ServiceNow references as `{ value }` or a sys_id string.
 */
export function text(v: unknown, attribute = 'email'): string | undefined {
  if (typeof v === 'string') return v.trim() === '' ? undefined : v.trim();
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  const o = obj(v);
  if (!o) return undefined;
  const person = attribute === 'email' ? o.emailAddress : undefined;
  for (const candidate of [person, o.emailAddress, o.value, o.name, o.accountId, o.display_value])
    if (typeof candidate === 'string' && candidate.trim() !== '') return candidate.trim();
  return undefined;
}

/** The value at a dotted path (`variables.duration`, `customfield_10050`). */
export function at(record: Obj, path: string): unknown {
  let v: unknown = record;
  for (const k of path.split('.')) v = obj(v)?.[k];
  return v;
}

const ISSUE_KEY = /^[A-Z][A-Z0-9_]*-\d+$/;
const RITM = /^[A-Z]+\d+$/;
const SYS_ID = /^[0-9a-f]{32}$/;

function bad(message: string, field: string): InputError {
  return new InputError(message, { code: 'invalid_ticket_event', field });
}

const WEBHOOK_EVENTS = new Set(['jira:issue_created', 'jira:issue_updated']);
export const CANCELLED = /^(cancel+ed|won'?t do|withdrawn|declined by requester)$/i;

/**
 * A Jira admin webhook (`{ timestamp, webhookEvent, issue: { id, key, fields } }`) or an automation
 * rule's web request with the issue (`{ issue: … }` or the issue itself). The ticket counts as
 * closed when it reaches the status the integration maps `revoked` to, cancelled when its
 * resolution or status says so; the `done` status is Gatehouse's own and leaves it open.
 */
export function jiraEvent(i: IntegrationConfig, body: unknown): TicketEvent {
  const b = obj(body);
  if (!b) throw bad('the body is not a JSON object', 'body');
  if (b.webhookEvent !== undefined && !WEBHOOK_EVENTS.has(String(b.webhookEvent)))
    throw bad(
      `webhookEvent "${String(b.webhookEvent)}" is not one Gatehouse takes (jira:issue_created, jira:issue_updated)`,
      'webhookEvent',
    );
  const issue = obj(b.issue) ?? (b.key !== undefined ? b : undefined);
  const key = issue?.key;
  if (typeof key !== 'string' || !ISSUE_KEY.test(key))
    throw bad('issue.key is missing or not an issue key such as ITSM-42', 'issue.key');
  const fields = obj(issue?.fields) ?? {};
  const status = text(obj(fields.status)?.name);
  const resolution = text(obj(fields.resolution)?.name);
  const same = (a: string | undefined, b: string | undefined) =>
    a !== undefined && b !== undefined && a.toLowerCase() === b.toLowerCase();
  const state =
    (resolution && CANCELLED.test(resolution)) || (status && CANCELLED.test(status))
      ? 'cancelled'
      : same(status, i.steps.revoked) && !same(status, i.steps.done)
        ? 'closed'
        : 'open';
  const approval = jiraApproval(i, b);
  return {
    ticket: `JIRA:${key}`,
    key,
    status: state,
    reporter: text(fields.reporter, i.matchAttribute),
    record: fields,
    sentAt: typeof b.timestamp === 'number' ? b.timestamp : undefined,
    ...(approval ? { approval } : {}),
  };
}

/**
 * A `jira:issue_updated` whose changelog moves the issue to the status the integration maps
 * `approved` (or `rejected`) to, made by `user`: the webhook's own record of who moved it. An
 * approval step of a Jira Service Management request type ends in such a transition too.
 */
function jiraApproval(i: IntegrationConfig, b: Obj): RelayedApproval | undefined {
  if (b.webhookEvent !== undefined && b.webhookEvent !== 'jira:issue_updated') return undefined;
  const items = obj(b.changelog)?.items;
  if (!Array.isArray(items)) return undefined;
  const moved = items
    .map(obj)
    .find((it) => it && String(it.field).toLowerCase() === 'status' && it.toString !== undefined);
  const to = text(moved?.toString)?.toLowerCase();
  const verdict =
    to !== undefined && to === i.steps.approved?.toLowerCase()
      ? 'approve'
      : to !== undefined && to === i.steps.rejected?.toLowerCase()
        ? 'reject'
        : undefined;
  if (!verdict) return undefined;
  return {
    person: text(b.user, i.matchAttribute),
    verdict,
    comment:
      text(obj(b.comment)?.body) ?? `${verdict === 'approve' ? 'approved' : 'rejected'} in Jira`,
  };
}

/**
 * What a business rule or flow on `sc_req_item` posts: the record's `sys_id`, `number`, `state`,
 * `requested_for`, `opened_by` and its catalog `variables` (docs/itsm/servicenow.md). States 4
 * (closed incomplete) and 7 (closed skipped) are cancellations; the state the integration maps
 * `revoked` to, where it is not also its `done` state, is a closing.
 */
export function serviceNowEvent(i: IntegrationConfig, body: unknown): TicketEvent {
  const b = obj(body);
  if (!b) throw bad('the body is not a JSON object', 'body');
  const record = obj(b.record) ?? b;
  if (record.sysapproval !== undefined) return serviceNowApproval(i, b, record);
  const sysId = text(record.sys_id);
  const number = text(record.number);
  if (!sysId || !SYS_ID.test(sysId)) throw bad('sys_id is missing or not a sys_id', 'sys_id');
  if (!number || !RITM.test(number))
    throw bad('number is missing or not a number such as RITM0010001', 'number');
  const state = text(record.state);
  const status =
    state === '4' || state === '7'
      ? 'cancelled'
      : state !== undefined && state === i.steps.revoked && i.steps.revoked !== i.steps.done
        ? 'closed'
        : 'open';
  const ts = b.timestamp ?? record.timestamp;
  return {
    ticket: `SNOW:${number}`,
    key: sysId,
    status,
    reporter: text(record.opened_by, i.matchAttribute),
    record,
    sentAt:
      typeof ts === 'number'
        ? ts
        : typeof ts === 'string' && /^\d+$/.test(ts)
          ? Number(ts)
          : undefined,
  };
}

const APPROVAL_STATES: Record<string, 'approve' | 'reject'> = {
  approved: 'approve',
  rejected: 'reject',
};

/**
 * What a business rule on `sysapproval_approver` posts when an approver acts: the approval
 * record's `sys_id`, `state` (`approved`, `rejected`), `approver` (the person, by the
 * integration's match attribute: the rule dot-walks `approver.email`), `comments`, and
 * `sysapproval`, the reference to the request item (`{ value: <sys_id>, display_value:
 * <number> }`, as the Table API gives references with sysparm_display_value=all).
 */
function serviceNowApproval(i: IntegrationConfig, b: Obj, record: Obj): TicketEvent {
  const ref = obj(record.sysapproval);
  const sysId = text(ref?.value);
  const number = text(ref?.display_value);
  if (!sysId || !SYS_ID.test(sysId))
    throw bad('sysapproval.value is missing or not a sys_id', 'sysapproval.value');
  if (!number || !RITM.test(number))
    throw bad(
      'sysapproval.display_value is missing or not a number such as RITM0010001',
      'sysapproval.display_value',
    );
  const state = text(record.state);
  const verdict = state === undefined ? undefined : APPROVAL_STATES[state];
  if (!verdict)
    throw bad(
      `state "${String(state)}" is not an approver's decision (approved, rejected)`,
      'state',
    );
  const ts = b.timestamp ?? record.timestamp;
  return {
    ticket: `SNOW:${number}`,
    key: sysId,
    status: 'open',
    reporter: undefined,
    record,
    sentAt:
      typeof ts === 'number'
        ? ts
        : typeof ts === 'string' && /^\d+$/.test(ts)
          ? Number(ts)
          : undefined,
    approval: {
      person: text(record.approver, i.matchAttribute),
      verdict,
      comment: text(record.comments) ?? `${state} in ServiceNow`,
    },
  };
}

export const ticketEvent = (i: IntegrationConfig, body: unknown): TicketEvent =>
  i.type === 'jira' ? jiraEvent(i, body) : serviceNowEvent(i, body);
