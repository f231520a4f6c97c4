import type { Reason, TicketSteps } from '../model.js';

/** An audit event concerning a ticket's request, as the write-back reads it. */
export interface TicketEventRow {
  seq: number;
  action: string;
  actor: string;
  subject: string;
  details: Record<string, unknown>;
  at: Date;
  request_id: string | null;
}

export interface Update {
  text: string;
  step?: keyof TicketSteps;
}

const reasonsOf = (v: unknown): Reason[] => (Array.isArray(v) ? (v as Reason[]) : []);

function reasons(list: Reason[]): string[] {
  const policies = [...new Set(list.flatMap((r) => (r.policy ? [r.policy] : [])))];
  return [
    ...list.map((r) => `- ${r.code}: ${r.message}`),
    ...(policies.length > 0 ? [`Deciding policies: ${policies.join(', ')}.`] : []),
  ];
}

/** Said of a decision the ticket relayed: who acted is the person, through the ticket. */
const relayed = (d: Record<string, unknown>) =>
  d.via === 'itsm' ? ' (relayed by the ticket)' : '';

const iso = (v: unknown) => (typeof v === 'string' ? v : v instanceof Date ? v.toISOString() : '');

/**
 * What a ticket is told about one event of its request, in plain sentences that each name the
 * Gatehouse request; undefined for events a ticket does not need. Only a verified change in the
 * target moves a ticket to done or revoked.
 */
export function updateFor(e: TicketEventRow): Update | undefined {
  const req = e.request_id ?? e.subject;
  const d = e.details;
  switch (e.action) {
    case 'request.decided': {
      const decision = (d.decision ?? {}) as { outcome?: string; reasons?: unknown };
      const list = reasons(reasonsOf(decision.reasons));
      if (d.status === 'approved')
        return {
          text: [
            `Gatehouse request ${req}: approved by policy (${decision.outcome}). Provisioning follows; this ticket is done once the target is verified.`,
            ...list,
          ].join('\n'),
          step: 'approved',
        };
      if (d.status === 'rejected')
        return {
          text: [`Gatehouse request ${req}: rejected.`, ...list].join('\n'),
          step: 'rejected',
        };
      return {
        text: [`Gatehouse request ${req}: needs approval.`, ...list].join('\n'),
      };
    }
    case 'request.approved_stage':
      return {
        text: `Gatehouse request ${req}: stage ${Number(d.stage) + 1} (${String(d.rule)}) approved by ${e.actor}${relayed(d)}.`,
      };
    case 'request.approved':
      return {
        text: `Gatehouse request ${req}: every approval given. Provisioning follows; this ticket is done once the target is verified.`,
        step: 'approved',
      };
    case 'request.rejected': {
      const by = d.recheck ? 'on a final check of the rules' : `by ${e.actor}${relayed(d)}`;
      return {
        text: [`Gatehouse request ${req}: rejected ${by}.`, ...reasons(reasonsOf(d.reasons))].join(
          '\n',
        ),
        step: 'rejected',
      };
    }
    case 'request.cancelled':
      return { text: `Gatehouse request ${req}: cancelled by ${e.actor}.`, step: 'rejected' };
    case 'request.lapsed':
      return { text: `Gatehouse request ${req}: lapsed undecided.`, step: 'rejected' };
    case 'grant.activated':
      return {
        text: `Gatehouse request ${req}: access provisioned and verified in the target at ${iso(d.granted_at) || e.at.toISOString()} (grant ${e.subject}${d.expires_at ? `, expires ${iso(d.expires_at)}` : ', standing'}).`,
        step: 'done',
      };
    case 'provision.abandoned':
      return {
        text: `Gatehouse request ${req}: provisioning failed and was given up after ${String(d.attempts)} attempts (grant ${e.subject}); the access is not granted.`,
      };
    case 'grant.revoked':
      return {
        text: `Gatehouse request ${req}: access removed and verified in the target at ${iso(d.revoked_at) || e.at.toISOString()} (grant ${e.subject}, trigger ${String(d.trigger)}).`,
        step: 'revoked',
      };
    case 'grant.revoke_failed':
      return {
        text: `Gatehouse request ${req}: removing the access failed (grant ${e.subject}); Gatehouse keeps trying and reports it. The access is still present.`,
      };
    case 'itsm.approval_refused': {
      const what = d.verdict === 'reject' ? 'rejection' : 'approval';
      return {
        text: `Gatehouse request ${req}: the ${what} by ${String(d.person ?? 'an unknown person')} relayed by this ticket was not applied: ${String(d.reason)}. The request still waits for its approvers.`,
      };
    }
    case 'itsm.ticket_refused':
      return {
        text: `Gatehouse made no request from this ticket: ${String(d.reason)}. Correct the ticket's fields and update it to try again.`,
      };
    default:
      return undefined;
  }
}

/** The events a ticket is told about, for the query that finds them. */
export const TICKET_ACTIONS = [
  'request.decided',
  'request.approved_stage',
  'request.approved',
  'request.rejected',
  'request.cancelled',
  'request.lapsed',
  'grant.activated',
  'provision.abandoned',
  'grant.revoked',
  'grant.revoke_failed',
  'itsm.ticket_refused',
  'itsm.approval_refused',
];
