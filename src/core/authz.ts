import { RefusedError } from './errors.js';
import type { Via } from './model.js';

/**
 * Who may see and do what: the one place that says so. Each use case gathers the facts a rule
 * needs (inside its transaction, under its locks) and asks here; a refusal is a `RefusedError`
 * with a stable code, so the CLI exits 2, the API answers 403 and the message names who may.
 * Input checks (unknown ids, wrong state) stay with the use case: they are not about the actor.
 */

/** The people around one grant, as its use case read them. */
export interface GrantParties {
  /** The identity holding the grant. */
  holder: string;
  /** The grant's accountable owner (the holder for a person, its owner for a non-human one). */
  grantOwner: string;
  /** The holder's owner (non-human identities) and manager, where known. */
  holderOwner?: string | null;
  holderManager?: string | null;
  /** Whoever requested the grant, where a request made it. */
  requester?: string | null;
  /** The owner of the grant's application. */
  appOwner?: string | null;
  /** Members of the governance (fallback) group and its name. */
  governance: { group: string; members: readonly string[] };
}

const present = (xs: (string | null | undefined)[]) =>
  new Set(xs.filter((x): x is string => typeof x === 'string' && x !== ''));

function refuse(actor: string, what: string, who: Set<string> | string, code: string): never {
  const names = typeof who === 'string' ? who : [...who].join(', ') || 'nobody';
  throw new RefusedError(`${actor} may not ${what}: only ${names} may`, { code });
}

/** Revoke now: the holder, the grant's owner, the app owner, or the governance group. */
export function authorizeRevoke(actor: string, grantId: string, p: GrantParties): void {
  const allowed = present([p.holder, p.grantOwner, p.appOwner, ...p.governance.members]);
  if (!allowed.has(actor))
    refuse(
      actor,
      `revoke ${grantId}`,
      `the holder, its owner, the app owner or group ${p.governance.group}`,
      'revoke_not_allowed',
    );
}

/**
 * Provision a failed grant again: whoever could have requested the access in the first place —
 * the holder, its owner or manager — and the original requester.
 */
export function authorizeRetry(actor: string, grantId: string, p: GrantParties): void {
  const allowed = present([p.holder, p.grantOwner, p.holderOwner, p.holderManager, p.requester]);
  if (!allowed.has(actor))
    refuse(
      actor,
      `retry ${grantId}`,
      "its holder, the holder's owner or manager, or whoever requested it",
      'retry_not_allowed',
    );
}

/** Answer an expiry reminder with "let it expire": the people reminders go to. */
/**
 * A credential for a non-human identity's account goes to its owner and nobody else (PRODUCT.md
 * section 5): the secret is shown once, to the person accountable for its use.
 */
export function authorizeCredentialIssue(
  actor: string,
  grantId: string,
  p: { holderOwner: string | null },
): void {
  const allowed = present([p.holderOwner]);
  if (!allowed.has(actor))
    refuse(actor, `receive a credential for ${grantId}`, allowed, 'credential_not_owner');
}

export function authorizeLetExpire(actor: string, grantId: string, p: GrantParties): void {
  const allowed = present([p.holder, p.grantOwner, p.holderOwner]);
  if (!allowed.has(actor))
    refuse(actor, `let ${grantId} expire`, allowed, 'let_expire_not_allowed');
}

/** Submit a request: an active requester; a suspended one only for themselves. */
export function authorizeRequest(
  actor: { id: string; status: string } | undefined,
  beneficiary: string,
): void {
  if (
    !actor ||
    actor.status === 'terminated' ||
    (actor.status !== 'active' && actor.id !== beneficiary)
  )
    throw new RefusedError(
      `requester ${actor?.id ?? ''} is ${actor?.status ?? 'unknown'} and may not request access for ${beneficiary}`,
      { code: 'requester_inactive' },
    );
}

/**
 * Cancel a pending request: whoever made it, and whoever it is for (they may decline access they
 * no longer need). Approvers reject instead; the governance group revokes what was granted.
 */
export function authorizeCancel(
  actor: string,
  r: { id: string; requester: string; beneficiary: string },
): void {
  const allowed = present([r.requester, r.beneficiary]);
  if (!allowed.has(actor))
    refuse(
      actor,
      `cancel request ${r.id}`,
      'its requester or its beneficiary',
      'cancel_not_allowed',
    );
}

/**
 * Where the store demands it (`approval.authenticated_only`), decisions on requests come only
 * through an authenticated channel: the CLI's `--as` is the operator's word, not a login.
 */
export function authorizeApprovalChannel(via: Via, authenticatedOnly: boolean): void {
  if (authenticatedOnly && via === 'cli')
    throw new RefusedError(
      'this store accepts approvals only through an authenticated channel (approval.authenticated_only), not from the command line',
      { code: 'authenticated_only' },
    );
}

/** What an approval rule needs to know about the actor and the request's current stage. */
export interface StageFacts {
  requestId: string;
  requester: string;
  beneficiary: string;
  stage: { idx: number; rule: string; approvers: readonly string[] };
  /** The stages this actor has already acted on, with the verdict. */
  acted: readonly { stage_idx: number; verdict: string }[];
  actorStatus: string | undefined;
  via: Via;
  authenticatedOnly: boolean;
}

/**
 * Act on a request's current stage, in order: an authenticated channel where the store demands
 * one; nobody approves what they asked for or what is for them; one person, one stage; only the
 * stage's resolved approvers, and only while active. (Having acted on this very stage already is
 * a conflict, not a refusal: the use case checks it first.)
 */
export function authorizeStageAction(
  actor: string,
  verdict: 'approve' | 'reject',
  f: StageFacts,
): void {
  authorizeApprovalChannel(f.via, f.authenticatedOnly);
  if (actor === f.requester || actor === f.beneficiary)
    throw new RefusedError(
      `${actor} may not ${verdict} request ${f.requestId}: nobody approves a request they made or that is for themselves`,
      { code: 'self_approval' },
    );
  // Each stage is another pair of eyes: the SoD-exception stage above all.
  const approvedBefore = f.acted.find(
    (e) => e.verdict === 'approve' && e.stage_idx !== f.stage.idx,
  );
  if (approvedBefore)
    throw new RefusedError(
      `${actor} approved stage ${approvedBefore.stage_idx} of ${f.requestId} and may not act on another stage of it: each stage needs a different person`,
      { code: 'approved_other_stage' },
    );
  if (!f.stage.approvers.includes(actor))
    throw new RefusedError(
      `${actor} is not an approver of the current stage (${f.stage.rule}: ${f.stage.approvers.join(', ') || 'nobody'}) of ${f.requestId}`,
      { code: 'not_stage_approver' },
    );
  // Resolved approvers may have left or been suspended since the request was routed.
  if (f.actorStatus !== 'active')
    throw new RefusedError(
      `${actor} is ${f.actorStatus ?? 'unknown'} and may not act on ${f.requestId}`,
      { code: 'approver_inactive' },
    );
}

/** What deciding a review item needs: its reviewers, whose access it is, the actor's status. */
export interface ReviewItemFacts {
  itemId: string;
  reviewers: readonly string[];
  /** The identity holding the access under review. */
  holder: string;
  actorStatus: string | undefined;
}

/**
 * Decide a review item (certify or revoke): nobody reviews access they hold, however the item was
 * routed (a non-human identity's owner may: they answer for it, as the `owner` rule says); only
 * the item's reviewers, and only while active.
 */
export function authorizeReviewDecision(actor: string, f: ReviewItemFacts): void {
  if (actor === f.holder)
    throw new RefusedError(
      `${actor} may not decide review item ${f.itemId}: nobody reviews their own access`,
      { code: 'self_review' },
    );
  if (!f.reviewers.includes(actor))
    refuse(
      actor,
      `decide review item ${f.itemId}`,
      f.reviewers.length > 0 ? new Set(f.reviewers) : 'its reviewers (it has none)',
      'not_reviewer',
    );
  if (f.actorStatus !== 'active')
    throw new RefusedError(
      `${actor} is ${f.actorStatus ?? 'unknown'} and may not decide review item ${f.itemId}`,
      { code: 'reviewer_inactive' },
    );
}

/** What the fulfilment rule needs: the task, its group's members, whose access it is. */
export interface TaskFacts {
  taskId: string;
  fulfillers: { group: string; members: readonly string[] };
  /** The grant's holder and accountable owner: the access is theirs. */
  holder: string;
  grantOwner: string;
  actorStatus: string | undefined;
}

/**
 * Fulfil a manual connector's task: only an active member of its fulfilling group, and nobody
 * for access that is their own (as holder or as the owner of the identity holding it).
 */
export function authorizeFulfil(actor: string, f: TaskFacts): void {
  if (!f.fulfillers.members.includes(actor))
    refuse(
      actor,
      `fulfil task ${f.taskId}`,
      `members of group ${f.fulfillers.group} (${f.fulfillers.members.join(', ') || 'nobody'})`,
      'not_fulfiller',
    );
  if (actor === f.holder || actor === f.grantOwner)
    throw new RefusedError(
      `${actor} may not fulfil task ${f.taskId}: nobody fulfils a task for their own access`,
      { code: 'self_fulfilment' },
    );
  if (f.actorStatus !== 'active')
    throw new RefusedError(
      `${actor} is ${f.actorStatus ?? 'unknown'} and may not fulfil task ${f.taskId}`,
      { code: 'fulfiller_inactive' },
    );
}

/**
 * Who reads: an identity, and whether it may read everything (the API's `audit` scope; the
 * operator at the command line, who holds the store itself).
 */
export interface Reader {
  id: string;
  readsAll: boolean;
}

/** A request: its requester and beneficiary, and anyone it was routed to for approval. */
export function authorizeRequestRead(
  reader: Reader,
  r: { id: string; requester: string; beneficiary: string; approvers: readonly string[] },
): void {
  if (reader.readsAll) return;
  const allowed = present([r.requester, r.beneficiary, ...r.approvers]);
  if (!allowed.has(reader.id))
    refuse(
      reader.id,
      `see request ${r.id}`,
      'its requester, its beneficiary, its approvers or an auditor',
      'request_not_visible',
    );
}

/** A grant: its holder, its owner, the app's owner and the governance group. */
export function authorizeGrantRead(
  reader: Reader,
  grantId: string,
  p: Pick<GrantParties, 'holder' | 'grantOwner' | 'appOwner' | 'governance'>,
): void {
  if (reader.readsAll) return;
  const allowed = present([p.holder, p.grantOwner, p.appOwner, ...p.governance.members]);
  if (!allowed.has(reader.id))
    refuse(
      reader.id,
      `see grant ${grantId}`,
      `its holder, its owner, the app owner, group ${p.governance.group} or an auditor`,
      'grant_not_visible',
    );
}

/** The people around one identity, for reading it. */
export interface IdentityParties {
  id: string;
  manager: string | null;
  owner: string | null;
  governance: { group: string; members: readonly string[] };
}

/**
 * An identity: itself, its manager, its owner (a non-human identity's accountable person) and
 * the governance group. Its grants are shown only as far as the grant rule above allows.
 */
export function authorizeIdentityRead(reader: Reader, p: IdentityParties): void {
  if (reader.readsAll) return;
  const allowed = present([p.id, p.manager, p.owner, ...p.governance.members]);
  if (!allowed.has(reader.id))
    refuse(
      reader.id,
      `see identity ${p.id}`,
      `the identity itself, its manager, its owner, group ${p.governance.group} or an auditor`,
      'identity_not_visible',
    );
}

/**
 * A token made through the API carries no scope the caller's own token lacks: an `admin` token
 * configures, it does not mint itself an `audit` or `approve` it was not given. (The operator at
 * the command line holds the store and may make any token.)
 */
export function authorizeTokenScopes(
  actor: string,
  held: readonly string[],
  asked: readonly string[],
): void {
  const beyond = asked.filter((s) => !held.includes(s));
  if (beyond.length > 0)
    throw new RefusedError(
      `${actor} may not make a token with scope ${beyond.join(', ')}: a token made through the API carries only scopes of the token that made it (${held.join(', ')})`,
      { code: 'scope_escalation', field: 'scopes' },
    );
}

/**
 * What a list shows a reader: everything, or only what the rules above let them see (undefined
 * means everything). The lists narrow their queries by it, so a page is never silently short.
 */
export function listReader(reader: Reader | undefined): string | undefined {
  return reader === undefined || reader.readsAll ? undefined : reader.id;
}
