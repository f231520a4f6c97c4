import { appendAudit } from '../audit/chain.js';
import type { Catalog } from '../catalog/catalog.js';
import { authorizeLetExpire } from '../authz.js';
import { ConflictError } from '../errors.js';
import type { NotificationSettings, Via } from '../model.js';
import { recordNotification } from '../notifications/outbox.js';
import type { Sql } from '../sql.js';
import { requireGrant } from './grants.js';

const BATCH = 1000;

interface Due {
  id: string;
  identity: string;
  entitlement: string;
  owner: string;
  request_id: string | null;
  expires_at: Date;
  holder_kind: string | null;
  holder_status: string | null;
  owner_status: string | null;
  current_owner: string | null;
  current_owner_status: string | null;
}

/**
 * Who is told: the holder if a person, the grant's accountable owner, and, for a non-human
 * holder, its current owner (a leaver's agents are handed on, but `grants.owner` keeps who was
 * accountable when the grant was made). Only active identities, each once.
 */
function recipients(d: Due): string[] {
  const told = new Set<string>();
  if (d.holder_kind === 'human' && d.holder_status === 'active') told.add(d.identity);
  if (d.owner_status === 'active') told.add(d.owner);
  if (d.current_owner && d.current_owner_status === 'active') told.add(d.current_owner);
  return [...told];
}

/**
 * What a reminder says, in plain sentences that an email, a chat message, the API and the UI can
 * all show as they are (no command syntax: how to answer depends on where it is read), and the
 * same content as fields for whoever renders it its own way.
 */
function message(
  d: Due,
  threshold: number,
): { subject: string; body: string; details: Record<string, unknown> } {
  const expires = new Date(d.expires_at).toISOString();
  return {
    subject: `${d.entitlement} for ${d.identity} expires ${expires}`,
    body: [
      `The access ${d.entitlement} held by ${d.identity} (grant ${d.id}) expires at ${expires} and is then removed.`,
      'To keep it, ask for an extension of the grant.',
      'If it is no longer needed, answer that it may expire: the reminders stop and the access is removed at its expiry.',
    ].join('\n'),
    details: {
      grant_id: d.id,
      identity: d.identity,
      entitlement: d.entitlement,
      expires_at: expires,
      threshold_seconds: threshold,
      answers: ['extend', 'let_expire'],
    },
  };
}

/**
 * One batch of due reminders, in one transaction. A grant is due when some threshold T has been
 * crossed (`expires_at - T <= now`) since its last reminder, and the grant was already active at
 * that point (a 2h grant is not "reminded" of its 1d threshold the moment it starts). Any crossed
 * threshold past the last reminder implies the smallest crossed one is too, so one reminder
 * covers every threshold skipped while sweep did not run.
 */
async function remindBatch(
  sql: Sql,
  thresholds: number[],
  notifications: NotificationSettings | undefined,
  now: Date,
  actor: string,
): Promise<number> {
  return sql.transaction(async (tx) => {
    const due = await tx.query<Due>(
      `SELECT g.id, g.identity, g.entitlement, g.owner, g.request_id, g.expires_at,
              h.kind AS holder_kind, h.status AS holder_status, o.status AS owner_status,
              c.id AS current_owner, c.status AS current_owner_status
         FROM grants g
         LEFT JOIN identities h ON h.id = g.identity
         LEFT JOIN identities o ON o.id = g.owner
         LEFT JOIN identities c ON c.id = h.owner AND h.kind <> 'human'
        WHERE g.state = 'active' AND NOT g.let_expire
          AND g.expires_at > $1::timestamptz
          AND g.expires_at <= $1::timestamptz + $3::int * interval '1 second'
          AND EXISTS (
            SELECT 1 FROM unnest($2::int[]) AS t (s)
             WHERE g.expires_at - t.s * interval '1 second' <= $1::timestamptz
               AND g.expires_at - t.s * interval '1 second' > COALESCE(g.granted_at, g.created_at)
               AND (g.last_reminder_at IS NULL
                    OR g.last_reminder_at < g.expires_at - t.s * interval '1 second'))
        ORDER BY g.expires_at, g.id LIMIT ${BATCH} FOR UPDATE OF g SKIP LOCKED`,
      [now, thresholds, thresholds[0]],
    );
    for (const d of due) {
      const left = (new Date(d.expires_at).getTime() - now.getTime()) / 1000;
      // The most recent threshold crossed (thresholds are largest first): the one this answers.
      const threshold = thresholds.filter((t) => t >= left).at(-1) ?? thresholds.at(-1)!;
      const to = recipients(d);
      const m = message(d, threshold);
      for (const r of to)
        await recordNotification(tx, now, notifications, {
          kind: 'expiry_reminder',
          grantId: d.id,
          recipient: r,
          ...m,
        });
      await tx.query('UPDATE grants SET last_reminder_at = $2 WHERE id = $1', [d.id, now]);
      await appendAudit(tx, now, {
        actor,
        action: 'grant.expiry_reminder',
        subject: d.id,
        refs: d.request_id ? [d.request_id] : [],
        details: {
          expires_at: new Date(d.expires_at).toISOString(),
          threshold_seconds: threshold,
          recipients: to,
        },
      });
    }
    return due.length;
  });
}

/**
 * Tells holders and owners that access is about to expire (the `expiry_reminders` setting), by
 * writing to the notifications outbox with the jobs that deliver it (src/core/notifications).
 * Returns the grants reminded.
 */
export async function remindExpiring(
  sql: Sql,
  catalog: Catalog,
  now: Date,
  actor: string,
): Promise<number> {
  const thresholds = [...catalog.settings.expiryReminders].sort((a, b) => b - a);
  if (thresholds.length === 0) return 0;
  let reminded = 0;
  // Each reminded grant leaves the query (its last_reminder_at is now), so this ends.
  for (;;) {
    const n = await remindBatch(sql, thresholds, catalog.settings.notifications, now, actor);
    if (n === 0) return reminded;
    reminded += n;
  }
}

/**
 * The answer to a reminder: the holder or an owner lets the grant run out. Reminders stop; the
 * grant still expires (and is revoked) at `expires_at` as any other.
 */
export async function letExpire(
  sql: Sql,
  now: Date,
  grantId: string,
  actor: string,
  via?: Via,
): Promise<void> {
  await sql.transaction(async (tx) => {
    const g = await requireGrant(tx, grantId, true);
    const [holder] = await tx.query<{ kind: string; owner: string }>(
      'SELECT kind, owner FROM identities WHERE id = $1',
      [g.identity],
    );
    authorizeLetExpire(actor, grantId, {
      holder: g.identity,
      grantOwner: g.owner,
      holderOwner: holder && holder.kind !== 'human' ? holder.owner : null,
      governance: { group: '', members: [] },
    });
    if (g.state !== 'active')
      throw new ConflictError(
        `grant ${grantId} is ${g.state}; only an active grant can be let expire`,
        {
          code: 'grant_not_active',
        },
      );
    if (!g.expires_at) {
      throw new ConflictError(
        `grant ${grantId} is standing and has no expiry: it ends only when revoked`,
        { code: 'grant_standing' },
      );
    }
    if (g.let_expire) return; // already answered: nothing changes, nothing to audit
    await tx.query('UPDATE grants SET let_expire = true, let_expire_by = $2 WHERE id = $1', [
      grantId,
      actor,
    ]);
    await appendAudit(tx, now, {
      actor,
      action: 'grant.let_expire',
      subject: grantId,
      refs: g.request_id ? [g.request_id] : [],
      details: {
        identity: g.identity,
        entitlement: g.entitlement,
        expires_at: g.expires_at.toISOString(),
        ...(via ? { via } : {}),
      },
    });
  });
}
