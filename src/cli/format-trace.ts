import { printable } from './format.js';
import { HELP_WIDTH, wrap } from './help.js';

interface TraceEvent {
  seq: number;
  at: string;
  actor: string;
  action: string;
  subject: string;
  details: Record<string, unknown>;
}

type Details = Record<string, unknown>;
const s = (v: unknown) => (v === null || v === undefined ? '' : String(v));
const reasons = (d: Details) => {
  const list = (d.reasons ?? (d.decision as Details | undefined)?.reasons) as
    { code: string; policy?: string; message?: string }[] | undefined;
  return (list ?? []).map((r) => `${r.code}${r.policy ? ` (${r.policy})` : ''}`).join(', ');
};

/**
 * The key facts of each kind of event, in words; what is not listed here falls back to its
 * scalar details. `--json` keeps every detail.
 */
const FACTS: Record<string, (d: Details, e: TraceEvent) => string> = {
  'request.submitted': (d) =>
    [
      s(d.entitlement) && `${s(d.entitlement)} for ${s(d.beneficiary)}`,
      d.duration_seconds != null && `for ${s(d.duration_seconds)} s`,
      d.ticket && `ticket ${s(d.ticket)}`,
      d.emergency === true && 'EMERGENCY',
      d.justification && `"${s(d.justification)}"`,
    ]
      .filter(Boolean)
      .join(' · '),
  'request.decided': (d) => [s(d.outcome ?? d.status), reasons(d)].filter(Boolean).join(': '),
  'request.approved_stage': (d) =>
    [`stage ${s(d.stage)} (${s(d.rule)})`, d.comment && `"${s(d.comment)}"`]
      .filter(Boolean)
      .join(' · '),
  'request.rejected': (d) =>
    [
      d.recheck === true && 'decided again at the last approval',
      reasons(d),
      d.comment && `"${s(d.comment)}"`,
    ]
      .filter(Boolean)
      .join(' · '),
  'grant.created': (d) =>
    `${s(d.entitlement)} for ${s(d.identity)} (${s(d.trigger)}), waiting to be provisioned`,
  'grant.applied': (d) => `applied in the target at ${s(d.applied_at)}`,
  'grant.activated': (d) =>
    `verified in the target; expires ${s(d.expires_at) || 'never'} (attempt ${s(d.attempts)})`,
  'grant.expired': (d) => `expired at ${s(d.expires_at)}; removal queued`,
  'grant.revoke_requested': (d) => `${s(d.trigger)}: "${s(d.reason)}"`,
  'grant.revoked': (d) =>
    `removal verified in the target; latency ${s(d.revocation_latency_seconds)} s (${s(d.trigger)})`,
  'grant.revoke_failed': (d) => `removal NOT verified: ${s(d.error)}; still retried`,
  'grant.failed': (d) => `${s(d.op)} failed after ${s(d.attempts)} attempts: ${s(d.error)}`,
  'provision.retry_scheduled': (d) =>
    `${s(d.op)} attempt ${s(d.attempt)} failed: ${s(d.error)}; next at ${s(d.next_attempt_at)}`,
};

function fallback(d: Details): string {
  return Object.entries(d)
    .filter(([, v]) => v === null || ['string', 'number', 'boolean'].includes(typeof v))
    .map(([k, v]) => `${k} ${s(v)}`)
    .join(' · ');
}

/** `audit trace` for people: a timeline, one event a block, the key facts in words. */
export function formatTrace(events: TraceEvent[]): string {
  if (events.length === 0) return 'no events';
  const out: string[] = [];
  let day = '';
  for (const e of events) {
    const [date, time] = [e.at.slice(0, 10), e.at.slice(11, 19)];
    if (date !== day) {
      if (day) out.push('');
      out.push(date);
      day = date;
    }
    const via = typeof e.details.via === 'string' ? ` (${e.details.via})` : '';
    const head = `  ${time}  ${e.action.padEnd(26)} ${printable(e.subject)}`;
    out.push(head.length > HELP_WIDTH ? `${head.slice(0, HELP_WIDTH - 1)}…` : head);
    const facts = (FACTS[e.action] ?? fallback)(e.details, e);
    const text = `by ${e.actor}${via}${facts ? ` — ${facts}` : ''}`;
    out.push(...wrap(printable(text), HELP_WIDTH - 12).map((l) => ' '.repeat(12) + l));
  }
  return out.join('\n');
}
