import { auditedTransaction, recordAudit } from '../audit/chain.js';
import type { Catalog } from '../catalog/catalog.js';
import { type DecideInput, decide } from '../decision/decide.js';
import { loadFacts, lockIdentity } from '../decision/inputs.js';
import { authorizeApprovalChannel, authorizeStageAction } from '../authz.js';
import { ConflictError, InputError, NotFoundError } from '../errors.js';
import { requireGrant } from '../grants/grants.js';
import type { Decision, Reason, Via } from '../model.js';
import { fulfil } from '../requests/submit.js';
import type { Sql } from '../sql.js';
import { rerouteStage } from './reroute.js';

interface StageRow {
  idx: number;
  rule: string;
  approvers: string[];
  min_approvals: number;
  fallback: boolean;
  state: string;
}

interface RequestRow {
  id: string;
  requester: string;
  beneficiary: string;
  entitlement: string;
  justification: string;
  duration: number | null;
  ticket: string | null;
  emergency: boolean;
  kind: 'access' | 'extend' | 'birthright';
  extends_grant: string | null;
  status: string;
  decision: Decision;
  lapses_at: Date | null;
}

export interface ActInput {
  requestId: string;
  actor: string;
  verdict: 'approve' | 'reject';
  comment: string;
  /** How the actor was established; `cli` is refused where approvals must be authenticated. */
  via: Via;
}

/**
 * Acts on a request's current stage as `actor`. Nobody approves a request they requested or
 * that is for themselves; only the stage's resolved approvers act; one person approves one stage
 * of a request at most; one rejection rejects. The last stage's approval first decides the
 * request again on today's facts (what may have changed while it waited), then carries it out,
 * in the same transaction.
 */
export async function actOnRequest(
  sql: Sql,
  catalog: Catalog,
  now: Date,
  a: ActInput,
): Promise<void> {
  if (a.verdict === 'reject' && a.comment.trim() === '')
    throw new InputError('a rejection needs a comment saying why', {
      code: 'comment_required',
      field: 'comment',
    });
  // Refused before anything is read or locked.
  authorizeApprovalChannel(a.via, catalog.settings.authenticatedOnly);
  await auditedTransaction(sql, async (tx) => {
    // The beneficiary first, then the request: the order every decision about them locks in.
    const [head] = await tx.query<{ beneficiary: string }>(
      'SELECT beneficiary FROM requests WHERE id = $1',
      [a.requestId],
    );
    if (!head) throw new NotFoundError(`unknown request "${a.requestId}"`, { field: 'request' });
    await lockIdentity(tx, head.beneficiary);
    const [r] = await tx.query<RequestRow>('SELECT * FROM requests WHERE id = $1 FOR UPDATE', [
      a.requestId,
    ]);
    if (!r) throw new NotFoundError(`unknown request "${a.requestId}"`, { field: 'request' });
    if (r.status !== 'pending_approval')
      throw new ConflictError(`request ${r.id} is ${r.status}, not pending approval`, {
        code: 'not_pending',
      });
    // Past the timeout it has lapsed, whether or not a sweep has recorded that yet.
    if (r.lapses_at && r.lapses_at <= now) {
      throw new ConflictError(
        `request ${r.id} lapsed at ${r.lapses_at.toISOString()} (approval timeout); it can no longer be decided`,
        { code: 'lapsed' },
      );
    }
    const [stage] = await tx.query<StageRow>(
      `SELECT idx, rule, approvers, min_approvals, fallback, state FROM approval_stages WHERE request_id = $1 AND state = 'pending'`,
      [r.id],
    );
    if (!stage) throw new Error(`request ${r.id} is pending with no pending stage`);
    const earlier = await tx.query<{ stage_idx: number; verdict: string }>(
      'SELECT stage_idx, verdict FROM approvals WHERE request_id = $1 AND approver = $2',
      [r.id, a.actor],
    );
    if (earlier.some((e) => e.stage_idx === stage.idx))
      throw new ConflictError(
        `${a.actor} has already acted on stage ${stage.idx} (${stage.rule}) of ${r.id}`,
        { code: 'already_acted' },
      );
    const [actor] = await tx.query<{ status: string }>(
      'SELECT status FROM identities WHERE id = $1',
      [a.actor],
    );
    authorizeStageAction(a.actor, a.verdict, {
      requestId: r.id,
      requester: r.requester,
      beneficiary: r.beneficiary,
      stage,
      acted: earlier,
      actorStatus: actor?.status,
      via: a.via,
      authenticatedOnly: catalog.settings.authenticatedOnly,
    });
    await tx.query(
      'INSERT INTO approvals (request_id, stage_idx, approver, verdict, comment, at) VALUES ($1, $2, $3, $4, $5, $6)',
      [r.id, stage.idx, a.actor, a.verdict, a.comment, now],
    );
    const event = { stage: stage.idx, rule: stage.rule, comment: a.comment, via: a.via };
    if (a.verdict === 'reject') {
      await recordAudit(tx, now, {
        actor: a.actor,
        action: 'request.rejected',
        subject: r.id,
        details: event,
      });
      await tx.query(
        `UPDATE approval_stages SET state = 'rejected' WHERE request_id = $1 AND idx = $2`,
        [r.id, stage.idx],
      );
      await tx.query(`UPDATE requests SET status = 'rejected', closed_at = $2 WHERE id = $1`, [
        r.id,
        now,
      ]);
      return;
    }
    const [count] = await tx.query<{ n: number | string }>(
      `SELECT count(*) AS n FROM approvals WHERE request_id = $1 AND stage_idx = $2 AND verdict = 'approve'`,
      [r.id, stage.idx],
    );
    if (Number(count?.n) < stage.min_approvals) {
      await recordAudit(tx, now, {
        actor: a.actor,
        action: 'request.approved_stage',
        subject: r.id,
        details: event,
      });
      return;
    }
    await tx.query(
      `UPDATE approval_stages SET state = 'approved' WHERE request_id = $1 AND idx = $2`,
      [r.id, stage.idx],
    );
    const [next] = await tx.query<StageRow>(
      `SELECT idx, rule, approvers, min_approvals, fallback, state FROM approval_stages WHERE request_id = $1 AND idx = $2`,
      [r.id, stage.idx + 1],
    );
    if (next) {
      const routed = await rerouteStage(tx, catalog, r, next);
      await tx.query(
        `UPDATE approval_stages SET state = 'pending', approvers = $3, fallback = $4 WHERE request_id = $1 AND idx = $2`,
        [r.id, next.idx, routed.approvers, routed.fallback],
      );
      await recordAudit(tx, now, {
        actor: a.actor,
        action: 'request.approved_stage',
        subject: r.id,
        details: {
          ...event,
          next: { stage: next.idx, rule: next.rule, ...routed },
        },
      });
      return;
    }
    await recordAudit(tx, now, {
      actor: a.actor,
      action: 'request.approved_stage',
      subject: r.id,
      details: event,
    });
    const refused = await recheck(tx, catalog, now, r);
    if (refused) {
      await tx.query(
        `UPDATE requests SET status = 'rejected', closed_at = $2, decision = $3 WHERE id = $1`,
        [r.id, now, JSON.stringify(refused)],
      );
      await recordAudit(tx, now, {
        actor: 'gatehouse',
        action: 'request.rejected',
        subject: r.id,
        details: { stage: stage.idx, rule: stage.rule, recheck: true, reasons: refused.reasons },
      });
      return;
    }
    await tx.query(`UPDATE requests SET status = 'approved', closed_at = $2 WHERE id = $1`, [
      r.id,
      now,
    ]);
    await recordAudit(tx, now, {
      actor: a.actor,
      action: 'request.approved',
      subject: r.id,
      details: { stages: stage.idx + 1, via: a.via },
    });
    await fulfil(tx, catalog, now, r.id, a.actor);
  });
}

/**
 * At the last approval, what may have changed while the request waited is decided again on the
 * facts as they are now (the beneficiary is locked, so they hold until commit): both identities'
 * status, eligibility, segregation of duties, licence seats. The rejecting decision record when
 * the request no longer passes; undefined when it may be carried out.
 */
async function recheck(
  tx: Sql,
  catalog: Catalog,
  now: Date,
  r: RequestRow,
): Promise<Decision | undefined> {
  const rejected = (reasons: Reason[], base: Decision = r.decision): Decision => ({
    ...base,
    outcome: 'rejected',
    reasons,
    decided_at: now.toISOString(),
  });
  const entitlement = catalog.entitlements.get(r.entitlement);
  if (!entitlement) {
    return rejected([
      {
        code: 'entitlement_unavailable',
        message: `${r.entitlement} is no longer configured`,
      },
    ]);
  }
  const loaded = await loadFacts(tx, {
    beneficiary: r.beneficiary,
    requester: r.requester,
    entitlement: r.entitlement,
    lock: false,
    catalog,
  });
  if (!loaded) throw new Error(`identity ${r.beneficiary} of ${r.id} vanished`);
  const g = r.extends_grant ? await requireGrant(tx, r.extends_grant) : undefined;
  const input: DecideInput = {
    requester: r.requester,
    beneficiary: loaded.beneficiary,
    facts: loaded.facts,
    entitlement,
    justification: r.justification,
    duration: r.duration,
    ticket: r.ticket,
    emergency: r.emergency,
    kind: r.kind,
    recheckOf: r.id,
    ...(g
      ? {
          grant: {
            id: g.id,
            expiresAt: g.expires_at,
            grantedAt: g.granted_at,
            state: g.state,
            identity: g.identity,
            entitlement: g.entitlement,
          },
        }
      : {}),
  };
  const plan = await decide(tx, catalog, now, input);
  if (plan.status === 'rejected') return rejected(plan.decision.reasons, plan.decision);
  // A conflict that needs an exception now, and this request was not routed past one.
  const rule = plan.sodException;
  if (rule) {
    const [stage] = await tx.query(
      `SELECT 1 FROM approval_stages WHERE request_id = $1 AND starts_with(rule, $2)`,
      [r.id, `sod_exception:${rule.id}:`],
    );
    if (!stage) {
      return rejected(
        plan.decision.reasons.filter((x) => x.code === 'sod_exception_required'),
        plan.decision,
      );
    }
  }
  return undefined;
}

/** Requests not decided within the approval timeout lapse. */
export async function lapseOverdue(sql: Sql, now: Date): Promise<number> {
  return auditedTransaction(sql, async (tx) => {
    const due = await tx.query<{ id: string }>(
      `SELECT id FROM requests WHERE status = 'pending_approval' AND lapses_at <= $1 ORDER BY lapses_at FOR UPDATE SKIP LOCKED`,
      [now],
    );
    for (const r of due) {
      await tx.query(`UPDATE requests SET status = 'lapsed', closed_at = $2 WHERE id = $1`, [
        r.id,
        now,
      ]);
      await tx.query(
        `UPDATE approval_stages SET state = 'lapsed' WHERE request_id = $1 AND state IN ('pending', 'waiting')`,
        [r.id],
      );
      await recordAudit(tx, now, {
        actor: 'gatehouse',
        action: 'request.lapsed',
        subject: r.id,
        details: { reason: 'approval timeout', via: 'job' },
      });
    }
    return due.length;
  });
}
