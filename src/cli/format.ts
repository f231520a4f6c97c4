import type { RequestView } from '../core/requests/view.js';
import type { GrantView } from '../core/grants/view.js';

type DecisionLike = Pick<
  RequestView,
  'status' | 'entitlement' | 'beneficiary' | 'requester' | 'decision' | 'approval'
> & {
  id: string | null;
  grant: RequestView['grant'];
};

// Matching control characters is the point here.
// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * Text as it may be shown on a terminal: control characters (escape sequences, newlines that
 * would forge an output line, bidi overrides) written as escapes. Ids and names come from HR
 * feeds and configuration, so they are never printed raw. --json needs none of this.
 */
export function printable(value: unknown): string {
  return String(value).replace(
    UNPRINTABLE,
    (c) => NAMED[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

export function formatRequest(r: DecisionLike): string {
  const p = printable;
  const lines = [
    `${p(r.id ?? '(explain: nothing written)')}  ${r.status}  ${p(r.entitlement)} for ${p(r.beneficiary)} (requested by ${p(r.requester)})`,
    `  decision: ${r.decision.outcome}  role fit ${r.decision.role_fit} (${p(r.decision.role_fit_explanation)})`,
    ...r.decision.reasons.map(
      (x) => `  - ${p(x.code)}${x.policy ? ` [${p(x.policy)}]` : ''}: ${p(x.message)}`,
    ),
  ];
  for (const [i, s] of r.approval.stages.entries()) {
    lines.push(
      `  stage ${i + 1} ${p(s.rule)}: ${s.approvers.map(p).join(', ') || 'nobody'} (${s.state})`,
    );
  }
  if (r.grant)
    lines.push(
      `  grant ${p(r.grant.id)}: ${r.grant.state}${r.grant.expires_at ? `, expires ${p(r.grant.expires_at)}` : ''}`,
    );
  return lines.join('\n');
}

export function table(rows: Record<string, unknown>[], columns: string[]): string {
  if (rows.length === 0) return '(none)';
  const cell = (v: unknown) => (v === null || v === undefined ? '-' : printable(v));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) =>
    vals
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [
    line(columns.map(printable)),
    ...rows.map((r) => line(columns.map((c) => cell(r[c])))),
  ].join('\n');
}

/** States whose work is not done: their last error is shown under the table. */
const UNSETTLED = new Set(['provisioning', 'revoking', 'revoke_failed', 'failed']);

/**
 * Grants as a table; revocations that failed (access may still be there) first, and under the
 * table the last error of each grant still retrying or failed, so nobody has to ask for JSON.
 */
export function formatGrants(grants: GrantView[]): string {
  const ordered = [
    ...grants.filter((g) => g.state === 'revoke_failed'),
    ...grants.filter((g) => g.state !== 'revoke_failed'),
  ];
  const out = table(ordered as unknown as Record<string, unknown>[], [
    'id',
    'identity',
    'entitlement',
    'state',
    'expires_at',
    'trigger',
    'revoke_trigger',
  ]);
  const errors = ordered
    .filter((g) => g.failure && UNSETTLED.has(g.state))
    .map((g) => `  ${g.id} ${g.state}: ${g.failure}`);
  const waiting = ordered
    .filter((g) => g.task)
    .map(
      (g) =>
        `  ${g.id} waits on ${g.task!.op} task ${g.task!.id}, due ${g.task!.due_at}${g.task!.overdue ? ' (OVERDUE)' : ''}`,
    );
  const tail = [
    ...(errors.length ? ['last errors:', ...errors] : []),
    ...(waiting.length ? ['fulfilment tasks:', ...waiting] : []),
  ];
  return tail.length ? [out, ...tail].join('\n') : out;
}

/** A list's text output with, when a page follows, how to ask for it: nothing is cut unsaid. */
export function paged(text: string, shown: number, nextCursor: string | null): string {
  if (nextCursor === null) return text;
  return `${text}\n(${shown} shown; more follow: run again with --cursor ${nextCursor})`;
}
