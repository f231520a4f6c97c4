import type { Via } from '../model.js';
import type { Sql } from '../sql.js';
import { appendAudit } from './chain.js';

/**
 * A call refused: 401 (no or bad credentials) or 403 (the token's scope, or a rule of
 * core/authz.ts). What was asked, by whom, and why — never the credential itself.
 */
export interface Refusal {
  /** The identity, where the credential named one; otherwise `unauthenticated`. */
  actor: string;
  kind: 'unauthenticated' | 'refused';
  /** The refusal's stable code: `token_revoked`, `insufficient_scope`, `self_approval`… */
  code: string;
  /** What was attempted: `POST /api/v1/requests/:id/approve`, or a command's name. */
  operation: string;
  /** The request, grant, identity or token it concerned, where one was named and valid. */
  subject?: string | undefined;
  /** The token's id (`tok_…`, never its secret), where one was presented and found. */
  token?: string | undefined;
  /** The caller's network address, for API calls. */
  address?: string | undefined;
  via: Via;
}

/**
 * Records a refusal in the audit trail. Its own transaction: the refused change (if one had begun)
 * rolled back, and the record of the attempt must outlive it.
 */
export async function recordRefusal(sql: Sql, now: Date, r: Refusal): Promise<void> {
  await sql.transaction((tx) =>
    appendAudit(tx, now, {
      actor: r.actor,
      action: r.kind === 'unauthenticated' ? 'access.unauthenticated' : 'access.refused',
      subject: r.subject ?? r.token ?? r.operation,
      details: {
        code: r.code,
        operation: r.operation,
        via: r.via,
        ...(r.token ? { token: r.token } : {}),
        ...(r.address ? { address: r.address } : {}),
      },
    }),
  );
}
