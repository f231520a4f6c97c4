import { openReviewItem } from '../reviews/items.js';
import { RECHECK_CONTEXT } from '../policy/engine.js';
import { InputError } from '../errors.js';
import { appendAudit, canonical } from '../audit/chain.js';
import type { Catalog } from '../catalog/catalog.js';
import { type IdentityRow, toIdentity } from '../catalog/rows.js';
import { upsertIdentity } from '../catalog/apply.js';
import { decide } from '../decision/decide.js';
import { LIVE_STATES } from '../decision/inputs.js';
import { addSeconds } from '../duration.js';
import { startRevocation } from '../grants/grants.js';
import type { BirthrightRule, Identity, IdentityKind, Via } from '../model.js';
import { recordDecision } from '../requests/submit.js';
import type { Sql } from '../sql.js';

/** More leavers than this share of the active identities in scope (and than the minimum) is refused. */
const MASS_LEAVE_SHARE = 0.2;
const MASS_LEAVE_MIN = 5;

export interface SyncResult {
  kinds: IdentityKind[];
  joined: string[];
  moved: string[];
  left: string[];
  unchanged: number;
  birthright_requests: string[];
  revoked: { grant: string; identity: string; entitlement: string; trigger: 'mover' | 'leaver' }[];
  sent_to_review: string[];
  reassigned: { identity: string; from: string; to: string }[];
}

const RELEVANT = (i: Identity) =>
  canonical({
    kind: i.kind,
    department: i.department,
    title: i.title,
    manager: i.manager,
    owner: i.owner,
    attributes: i.attributes,
  });

function matches(rule: BirthrightRule, i: Identity): boolean {
  const value = (k: string) =>
    k === 'kind'
      ? i.kind
      : k === 'department'
        ? i.department
        : k === 'title'
          ? i.title
          : k === 'manager'
            ? i.manager
            : k === 'owner'
              ? i.owner
              : k === 'status'
                ? i.status
                : (i.attributes[k] ?? '');
  return Object.entries(rule.when).every(([k, v]) => value(k) === String(v));
}

/**
 * Applies an authoritative identity snapshot in one transaction: joiners get their birthright
 * grants (each with its own decision record), movers have every live grant re-evaluated, leavers
 * lose everything and hand their non-human identities on. The snapshot is authoritative only for
 * `kinds` (default: the kinds it contains), so a people feed never touches service accounts.
 */
export async function syncIdentities(
  sql: Sql,
  catalog: Catalog,
  now: Date,
  actor: string,
  snapshot: Identity[],
  kinds?: IdentityKind[],
  opts: { allowMassLeave?: boolean; via?: Via } = {},
): Promise<SyncResult> {
  // How the feed arrived: the operator's command (cli), an authenticated call, or a job.
  const via: Via = opts.via ?? 'cli';
  const scope = kinds ?? [...new Set(snapshot.map((i) => i.kind))];
  const result: SyncResult = {
    kinds: scope,
    joined: [],
    moved: [],
    left: [],
    unchanged: 0,
    birthright_requests: [],
    revoked: [],
    sent_to_review: [],
    reassigned: [],
  };
  await sql.transaction(async (tx) => {
    const current = new Map(
      (
        await tx.query<IdentityRow>(
          'SELECT * FROM identities WHERE kind = ANY($1::text[]) FOR UPDATE',
          [scope],
        )
      ).map((r) => [r.id, toIdentity(r)]),
    );
    const leavers: Identity[] = [];
    const movers: Identity[] = [];
    const joiners: Identity[] = [];
    for (const next of snapshot) {
      const before = current.get(next.id);
      await upsertIdentity(tx, next, 'sync', now);
      if (!before) {
        await appendAudit(tx, now, {
          actor,
          action: 'identity.joined',
          subject: next.id,
          details: {
            via,
            kind: next.kind,
            status: next.status,
            department: next.department,
            title: next.title,
          },
        });
        if (next.status === 'active') joiners.push(next);
        else if (next.status === 'terminated') leavers.push(next);
        result.joined.push(next.id);
      } else if (next.status === 'terminated' && before.status !== 'terminated') {
        leavers.push(next);
      } else if (RELEVANT(before) !== RELEVANT(next) || before.status !== next.status) {
        const changed = (
          ['kind', 'status', 'department', 'title', 'manager', 'owner'] as const
        ).filter((k) => before[k] !== next[k]);
        if (canonical(before.attributes) !== canonical(next.attributes))
          changed.push('attributes' as never);
        await appendAudit(tx, now, {
          actor,
          action: 'identity.moved',
          subject: next.id,
          details: { via, changed, from: pick(before, changed), to: pick(next, changed) },
        });
        if (next.status === 'active') movers.push(next);
        result.moved.push(next.id);
      } else {
        result.unchanged++;
      }
    }
    const present = new Set(snapshot.map((i) => i.id));
    for (const gone of current.values()) {
      if (present.has(gone.id) || gone.status === 'terminated') continue;
      const left = { ...gone, status: 'terminated' as const };
      await upsertIdentity(tx, left, 'sync', now);
      leavers.push(left);
    }
    // A truncated or wrong feed must not terminate the workforce: many leavers at once need a flag.
    const activeBefore = [...current.values()].filter((i) => i.status === 'active').length;
    const limit = Math.max(MASS_LEAVE_MIN, Math.floor(activeBefore * MASS_LEAVE_SHARE));
    if (leavers.length > limit && !opts.allowMassLeave) {
      throw new InputError(
        `this snapshot would make ${leavers.length} of ${activeBefore} active ${scope.join(', ')} identities leavers (more than ${limit}); nothing was applied. Check the feed, or confirm that this many leavers is intended`,
        { code: 'mass_leave_unconfirmed', field: 'allow_mass_leave' },
      );
    }
    for (const j of joiners) await grantBirthright(tx, catalog, now, j, result);
    for (const m of movers) await reevaluate(tx, catalog, now, actor, via, m, result);
    for (const l of leavers) await leave(tx, catalog, now, actor, via, l, result);
  });
  return result;
}

function pick(i: Identity, keys: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(keys.map((k) => [k, (i as unknown as Record<string, unknown>)[k]]));
}

async function grantBirthright(
  tx: Sql,
  catalog: Catalog,
  now: Date,
  who: Identity,
  result: SyncResult,
): Promise<void> {
  for (const rule of catalog.birthright.filter((r) => matches(r, who))) {
    for (const entId of rule.grant) {
      const entitlement = catalog.entitlements.get(entId);
      if (!entitlement) continue;
      const held = await tx.query(
        `SELECT 1 FROM grants WHERE identity = $1 AND entitlement = $2 AND state IN ${LIVE_STATES}
         UNION ALL SELECT 1 FROM requests WHERE beneficiary = $1 AND entitlement = $2 AND status = 'pending_approval'`,
        [who.id, entId],
      );
      if (held.length > 0) continue;
      const input = {
        requester: 'gatehouse:birthright',
        beneficiary: who,
        entitlement,
        justification: `birthright rule ${rule.index}`,
        duration: rule.standing ? null : (rule.duration ?? undefined),
        ticket: null,
        emergency: false,
        kind: 'birthright' as const,
        birthrightRule: rule.index,
      };
      result.birthright_requests.push(
        await recordDecision(tx, catalog, now, input, await decide(tx, catalog, now, input)),
      );
    }
  }
}

/** A mover's live grants are re-evaluated with the new attributes; what no longer fits goes. */
async function reevaluate(
  tx: Sql,
  catalog: Catalog,
  now: Date,
  actor: string,
  via: Via,
  who: Identity,
  result: SyncResult,
): Promise<void> {
  const grants = await tx.query<{ id: string; entitlement: string; trigger: string }>(
    `SELECT id, entitlement, trigger FROM grants WHERE identity = $1 AND state IN ('active', 'provisioning') ORDER BY id`,
    [who.id],
  );
  const birthright = new Set(
    catalog.birthright.filter((r) => matches(r, who)).flatMap((r) => r.grant),
  );
  for (const g of grants) {
    const ent = catalog.entitlements.get(g.entitlement);
    let why: string | undefined;
    if (!ent) why = 'entitlement no longer configured';
    else if (!ent.kinds.includes(who.kind)) why = `kind ${who.kind} not allowed`;
    else if (g.trigger === 'birthright') {
      if (!birthright.has(g.entitlement))
        why = 'no birthright rule grants it for the new attributes';
    } else {
      const answer = catalog.policy.authorize('request', who, ent, RECHECK_CONTEXT);
      if (!answer.allowed)
        why = answer.policies[0]
          ? `forbidden by ${answer.policies[0]}: ${catalog.policy.message(answer.policies[0])}`
          : 'no policy permits it any more';
    }
    if (!why) continue;
    if (catalog.settings.mover === 'review') {
      const item = await openItem(tx, now, {
        kind: 'mover',
        grant: g.id,
        identity: who.id,
        entitlement: g.entitlement,
        reviewers: [who.manager].filter(Boolean),
        note: `after a move: ${why}`,
      });
      result.sent_to_review.push(item);
    } else {
      await startRevocation(tx, now, actor, g.id, 'mover', why, via);
      result.revoked.push({
        grant: g.id,
        identity: who.id,
        entitlement: g.entitlement,
        trigger: 'mover',
      });
    }
  }
  await grantBirthright(tx, catalog, now, who, result);
}

/** A leaver loses every grant, pending requests are cancelled, owned non-human identities move on. */
async function leave(
  tx: Sql,
  catalog: Catalog,
  now: Date,
  actor: string,
  via: Via,
  who: Identity,
  result: SyncResult,
): Promise<void> {
  result.left.push(who.id);
  await appendAudit(tx, now, {
    actor,
    action: 'identity.left',
    subject: who.id,
    details: { via, status: 'terminated' },
  });
  const grants = await tx.query<{ id: string; entitlement: string }>(
    `SELECT id, entitlement FROM grants WHERE identity = $1 AND state IN ('active', 'provisioning', 'failed') ORDER BY id`,
    [who.id],
  );
  for (const g of grants) {
    await startRevocation(tx, now, actor, g.id, 'leaver', `${who.id} left`, via);
    result.revoked.push({
      grant: g.id,
      identity: who.id,
      entitlement: g.entitlement,
      trigger: 'leaver',
    });
  }
  const pending = await tx.query<{ id: string }>(
    `UPDATE requests SET status = 'cancelled', closed_at = $2 WHERE beneficiary = $1 AND status = 'pending_approval' RETURNING id`,
    [who.id, now],
  );
  for (const r of pending)
    await appendAudit(tx, now, {
      actor,
      action: 'request.cancelled',
      subject: r.id,
      details: { via, reason: `${who.id} left` },
    });
  const owned = await tx.query<{ id: string }>(
    `SELECT id FROM identities WHERE owner = $1 AND kind <> 'human' AND status <> 'terminated' ORDER BY id`,
    [who.id],
  );
  if (owned.length === 0) return;
  const heir = await successor(tx, catalog, who);
  for (const o of owned) {
    await tx.query('UPDATE identities SET owner = $2, updated_at = $3 WHERE id = $1', [
      o.id,
      heir,
      now,
    ]);
    await appendAudit(tx, now, {
      actor,
      action: 'identity.owner_reassigned',
      subject: o.id,
      details: { via, from: who.id, to: heir, reason: `${who.id} left` },
    });
    await openItem(tx, now, {
      kind: 'nhi_reassigned',
      identity: o.id,
      reviewers: [heir],
      note: `ownership moved from ${who.id}, who left`,
    });
    result.reassigned.push({ identity: o.id, from: who.id, to: heir });
  }
}

/** Nothing is left ownerless: the leaver's active manager, else the first member of the fallback group. */
async function successor(tx: Sql, catalog: Catalog, who: Identity): Promise<string> {
  if (who.manager) {
    const [m] = await tx.query<{ id: string }>(
      `SELECT id FROM identities WHERE id = $1 AND status = 'active'`,
      [who.manager],
    );
    if (m) return m.id;
  }
  const members = catalog.groups.get(catalog.settings.fallbackGroup) ?? [];
  const [first] = await tx.query<{ id: string }>(
    `SELECT id FROM identities WHERE id = ANY($1::text[]) AND status = 'active' ORDER BY id LIMIT 1`,
    [members],
  );
  return first?.id ?? `group:${catalog.settings.fallbackGroup}`;
}

/** Mover and ownership review items are due within 14 days. */
async function openItem(
  tx: Sql,
  now: Date,
  i: {
    kind: 'mover' | 'nhi_reassigned';
    grant?: string;
    identity: string;
    entitlement?: string;
    reviewers: string[];
    note: string;
  },
): Promise<string> {
  return openReviewItem(tx, now, {
    kind: i.kind,
    grantId: i.grant ?? null,
    identity: i.identity,
    entitlement: i.entitlement ?? null,
    reviewers: i.reviewers,
    note: i.note,
    due: addSeconds(now, 14 * 86400),
    refs: i.grant ? [i.grant] : [],
    details: { kind: i.kind, identity: i.identity, reviewers: i.reviewers, note: i.note },
  });
}
