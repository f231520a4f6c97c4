import { appendAudit, appendAuditMany } from '../audit/chain.js';
import type { Catalog } from '../catalog/catalog.js';
import { InputError } from '../errors.js';
import { newId } from '../ids.js';
import type { Via } from '../model.js';
import type { Sql } from '../sql.js';
import { type ReviewerRule, parseReviewerRule, resolveReviewers } from './reviewers.js';
import { parseScope, scopeWhere } from './scope.js';

export type ReviewDecision = 'certify' | 'revoke';

export function parseDecision(text: string, field: string): ReviewDecision {
  if (text === 'certify' || text === 'revoke') return text;
  throw new InputError(`${field} is certify or revoke, not "${text}"`, {
    code: 'invalid_decision',
    field,
  });
}

/** `2026-06-30` (the start of that day, UTC) or an ISO 8601 instant. */
export function parseInstant(text: string, field: string): Date {
  const day = /^\d{4}-\d{2}-\d{2}$/.test(text);
  const ms =
    day || /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(text)
      ? Date.parse(day ? `${text}T00:00:00Z` : text)
      : NaN;
  // A calendar date that does not exist (2026-02-30) would roll over into the next month.
  const rolled =
    !Number.isNaN(ms) &&
    (day || text.endsWith('Z')) &&
    new Date(ms).toISOString().slice(0, 10) !== text.slice(0, 10);
  if (Number.isNaN(ms) || rolled)
    throw new InputError(
      `${field} is a date (2026-06-30) or an ISO 8601 instant (2026-06-30T17:00:00Z), not "${text}"`,
      { code: 'invalid_date', field },
    );
  return new Date(ms);
}

export interface CreateCampaignInput {
  name: string;
  scope: string;
  due: Date;
  reviewer?: string | undefined;
  default?: string | undefined;
  actor: string;
  via: Via;
  /** A reviews.yaml campaign's name and the start of the period this opening is for. */
  recurring?: { name: string; periodStart: Date };
}

interface Selected {
  id: string;
  identity: string;
  entitlement: string;
  app: string;
  request_id: string | null;
  expires_at: Date | null;
  manager: string | null;
  owner: string | null;
}

/**
 * Opens a campaign: the active grants its scope selects now are snapshotted into items, each with
 * its reviewers resolved (and rerouted where the rule names nobody who may), in one transaction
 * with `review.created` and one `review.item_opened` per item. Grants granted later are not added:
 * a campaign reviews what existed when it opened.
 */
export async function createCampaign(
  sql: Sql,
  catalog: Catalog,
  now: Date,
  c: CreateCampaignInput,
): Promise<string> {
  const name = c.name.trim();
  if (name === '' || name.length > 200)
    throw new InputError('name: a campaign needs a name of 1 to 200 characters', {
      code: 'invalid_name',
      field: 'name',
    });
  const scope = parseScope(c.scope, catalog);
  const rule: ReviewerRule = parseReviewerRule(c.reviewer ?? 'manager', catalog);
  const byDefault = parseDecision(c.default ?? 'revoke', 'default');
  if (c.due.getTime() <= now.getTime())
    throw new InputError(`due: ${c.due.toISOString()} is not in the future`, {
      code: 'due_in_past',
      field: 'due',
    });
  return sql.transaction(async (tx) => {
    const id = newId('rev');
    await tx.query(
      `INSERT INTO review_campaigns (id, name, scope, reviewer, default_decision, due_at, created_by, created_at, recurring, period_start)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [
        id,
        name,
        c.scope,
        rule,
        byDefault,
        c.due,
        c.actor,
        now,
        c.recurring?.name ?? null,
        c.recurring?.periodStart ?? null,
      ],
    );
    const params: unknown[] = [];
    const p = (v: unknown) => `$${params.push(v)}`;
    // Shared locks: a grant revoked or re-expired while the snapshot is taken waits for it.
    const grants = await tx.query<Selected>(
      `SELECT g.id, g.identity, g.entitlement, g.app, g.request_id,
              g.expires_at, i.manager, i.owner
         FROM grants g JOIN entitlements e ON e.id = g.entitlement JOIN identities i ON i.id = g.identity
        WHERE ${scopeWhere(scope, p)}
        ORDER BY g.id FOR SHARE OF g`,
      params,
    );
    const people = [
      ...new Set(grants.flatMap((g) => [g.manager, g.owner]).filter((x): x is string => !!x)),
      ...[...catalog.apps.values()].map((a) => a.owner),
      ...[...catalog.groups.values()].flat(),
    ];
    const active = new Set(
      (
        await tx.query<{ id: string }>(
          `SELECT id FROM identities WHERE id = ANY($1::text[]) AND status = 'active'`,
          [people],
        )
      ).map((r) => r.id),
    );
    const items = grants.map((g) => ({
      id: newId('itm'),
      grant: g,
      ...resolveReviewers(
        rule,
        {
          holder: g.identity,
          manager: g.manager,
          owner: g.owner,
          app: g.app,
        },
        catalog,
        active,
      ),
    }));
    if (items.length > 0)
      await tx.query(
        `INSERT INTO review_items (id, campaign_id, kind, grant_id, identity, entitlement, reviewers, note, routed, due_at, created_at)
         SELECT x.id, $1, 'campaign', x.grant_id, x.identity, x.entitlement,
                ARRAY(SELECT jsonb_array_elements_text(x.reviewers)), $2, x.routed, $3, $4
           FROM jsonb_to_recordset($5::jsonb)
             AS x(id text, grant_id text, identity text, entitlement text, reviewers jsonb, routed text)`,
        [
          id,
          name,
          c.due,
          now,
          JSON.stringify(
            items.map((i) => ({
              id: i.id,
              grant_id: i.grant.id,
              identity: i.grant.identity,
              entitlement: i.grant.entitlement,
              reviewers: i.reviewers,
              routed: i.routed,
            })),
          ),
        ],
      );
    await appendAudit(tx, now, {
      actor: c.actor,
      action: 'review.created',
      subject: id,
      details: {
        name,
        scope: c.scope,
        reviewer: rule,
        default: byDefault,
        due: c.due.toISOString(),
        items: items.length,
        routed: items.filter((i) => i.routed !== null).length,
        via: c.via,
        ...(c.recurring
          ? {
              recurring: c.recurring.name,
              period_start: c.recurring.periodStart.toISOString(),
            }
          : {}),
      },
    });
    await appendAuditMany(
      tx,
      now,
      items.map((i) => ({
        actor: 'gatehouse',
        action: 'review.item_opened' as const,
        subject: i.id,
        refs: [id, i.grant.id, ...(i.grant.request_id ? [i.grant.request_id] : [])],
        details: {
          campaign: id,
          grant: i.grant.id,
          identity: i.grant.identity,
          entitlement: i.grant.entitlement,
          // What the reviewer is asked about: the grant as it stood when the campaign opened.
          expires_at: i.grant.expires_at?.toISOString() ?? null,
          reviewers: i.reviewers,
          routed: i.routed,
        },
      })),
    );
    return id;
  });
}
