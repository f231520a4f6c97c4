import type { Catalog } from '../catalog/catalog.js';
import { credentialsPastRotation } from '../credentials/view.js';
import { queueStats } from '../jobs/queue.js';
import { findingsByKind, notCovered } from '../reconcile/view.js';
import { channelsOf } from '../notifications/outbox.js';
import { ticketUpdates } from '../itsm/report.js';
import type { Sql } from '../sql.js';

export interface Percentiles {
  p50: number | null;
  p95: number | null;
}

/**
 * Notifications not delivered, each in one state: waiting (a digest window or a first attempt),
 * failing (retrying after an error), failed (given up), undeliverable (written while no channel
 * was configured). One read of the undelivered rows' partial index.
 */
async function undeliveredNotifications(sql: Sql) {
  const [r] = await sql.query<Record<string, number | string>>(
    `SELECT count(*) FILTER (WHERE cardinality(channels) > 0 AND last_error IS NULL) AS waiting,
            count(*) FILTER (WHERE failed_at IS NULL AND last_error IS NOT NULL) AS failing,
            count(*) FILTER (WHERE failed_at IS NOT NULL) AS failed,
            count(*) FILTER (WHERE cardinality(channels) = 0) AS undeliverable
       FROM notifications WHERE delivered_at IS NULL`,
  );
  return {
    waiting: Number(r?.waiting ?? 0),
    failing: Number(r?.failing ?? 0),
    failed: Number(r?.failed ?? 0),
    undeliverable: Number(r?.undeliverable ?? 0),
  };
}

/**
 * Governance metrics (PRODUCT.md section 10) beside the service metrics, from the store: speed and
 * control quality side by side, never speed alone.
 */
export async function governanceReport(sql: Sql, catalog: Catalog, now: Date) {
  const sla = catalog.settings.revocationSla;
  const pct = async (expr: string, from: string): Promise<Percentiles> => {
    const [r] = await sql.query<{ p50: number | null; p95: number | null }>(
      `SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ${expr}) AS p50, percentile_cont(0.95) WITHIN GROUP (ORDER BY ${expr}) AS p95 FROM ${from}`,
    );
    const round = (v: number | null | undefined) =>
      v == null ? null : Math.round(Number(v) * 1000) / 1000;
    return { p50: round(r?.p50), p95: round(r?.p95) };
  };
  const count = async (text: string, params: unknown[] = []) =>
    Number((await sql.query<{ n: number | string }>(text, params))[0]?.n ?? 0);

  const byState = await sql.query<{ state: string; n: number | string }>(
    'SELECT state, count(*) AS n FROM grants GROUP BY state ORDER BY state',
  );
  const openItems = await count(`SELECT count(*) AS n FROM review_items WHERE decision IS NULL`);
  const allItems = await count(`SELECT count(*) AS n FROM review_items`);
  return {
    at: now.toISOString(),
    revocation_latency_seconds: await pct(
      'revocation_latency_seconds',
      `grants WHERE state = 'revoked' AND revocation_latency_seconds IS NOT NULL`,
    ),
    revocation_sla_seconds: sla,
    revocation_sla_breaches: await count(
      `SELECT count(*) AS n FROM grants
        WHERE (state = 'revoked' AND revocation_latency_seconds > $1)
           OR (state IN ('revoking', 'revoke_failed', 'failed') AND revoke_requested_at IS NOT NULL
               AND extract(epoch FROM ($2::timestamptz - COALESCE(CASE WHEN revoke_trigger = 'expiry' THEN expires_at END, revoke_requested_at))) > $1)`,
      [sla, now],
    ),
    grants_by_state: Object.fromEntries(byState.map((r) => [r.state, Number(r.n)])),
    grants_without_expiry: await count(
      `SELECT count(*) AS n FROM grants WHERE state = 'active' AND expires_at IS NULL`,
    ),
    // A revocation not yet verified leaves access that nobody means to be there: standing access.
    standing_access: await count(
      `SELECT count(*) AS n FROM grants WHERE (state = 'active' AND expires_at IS NULL) OR state = 'revoke_failed'`,
    ),
    standing_privileged: await count(
      `SELECT count(*) AS n FROM grants g JOIN entitlements e ON e.id = g.entitlement
        WHERE e.privileged AND ((g.state = 'active' AND g.expires_at IS NULL) OR g.state = 'revoke_failed')`,
    ),
    failed_grants: await count(
      `SELECT count(*) AS n FROM grants WHERE state IN ('failed', 'revoke_failed')`,
    ),
    failed_applies: await count(`SELECT count(*) AS n FROM grants WHERE state = 'failed'`),
    failed_revocations: await count(
      `SELECT count(*) AS n FROM grants WHERE state = 'revoke_failed'`,
    ),
    // Grants whose change is being retried after a failed attempt (revoke_failed ones included).
    grants_retrying: await count(
      `SELECT count(DISTINCT subject) AS n FROM jobs
        WHERE state = 'pending' AND last_error IS NOT NULL AND kind IN ('grant.apply', 'grant.revoke')`,
    ),
    jobs: await queueStats(sql, now),
    notification_channels: channelsOf(catalog.settings.notifications).join(', ') || 'none',
    notifications: await undeliveredNotifications(sql),
    ticket_updates: await ticketUpdates(sql),
    emergency_grants_active: await count(
      `SELECT count(*) AS n FROM grants WHERE state = 'active' AND emergency`,
    ),
    open_emergency_reviews: await count(
      `SELECT count(*) AS n FROM review_items WHERE kind = 'post_event' AND decision IS NULL`,
    ),
    sod_exceptions_open: await count(
      `SELECT count(*) AS n FROM grants g JOIN requests r ON r.id = g.request_id
        WHERE g.state IN ('provisioning', 'active') AND r.decision->'reasons' @> '[{"code": "sod_exception_required"}]'`,
    ),
    manual_overrides: await count(
      `SELECT count(*) AS n FROM grants WHERE state = 'revoked' AND revoke_trigger = 'manual'`,
    ),
    nhi_without_owner: await count(
      `SELECT count(*) AS n FROM identities i WHERE i.kind <> 'human' AND i.status = 'active'
         AND NOT EXISTS (SELECT 1 FROM identities o WHERE o.id = i.owner AND o.status = 'active')`,
    ),
    // Credentials of non-human identities (ADR 0025) still live after their rotation period.
    credentials_past_rotation: await credentialsPastRotation(sql, now),
    licence_seats_inactive: await count(
      `SELECT count(*) AS n FROM grants g JOIN entitlements e ON e.id = g.entitlement JOIN identities i ON i.id = g.identity
        WHERE g.state IN ('provisioning', 'active', 'revoking', 'revoke_failed') AND e.licence_tier IS NOT NULL AND i.status <> 'active'`,
    ),
    // Each connector's latest reconciliation (src/core/reconcile/view.ts).
    findings_by_kind: await findingsByKind(sql),
    reconcile_not_covered: await notCovered(sql),
    // Manual connectors (ADR 0018): access a person attested beside access read back from a
    // target, and the fulfilment tasks still open, overdue ones apart.
    grants_attested: await count(
      `SELECT count(*) AS n FROM grants WHERE state = 'active' AND attested_by IS NOT NULL`,
    ),
    grants_verified_by_read_back: await count(
      `SELECT count(*) AS n FROM grants WHERE state = 'active' AND attested_by IS NULL`,
    ),
    tasks_open: await count(`SELECT count(*) AS n FROM fulfilment_tasks WHERE state = 'open'`),
    tasks_overdue: await count(
      `SELECT count(*) AS n FROM fulfilment_tasks WHERE state = 'open' AND due_at < $1`,
      [now],
    ),
    time_to_decision_seconds: await pct(
      'extract(epoch FROM (closed_at - created_at))',
      `requests WHERE closed_at IS NOT NULL AND status IN ('approved', 'rejected') AND kind <> 'birthright'`,
    ),
    time_to_provision_seconds: await pct(
      'extract(epoch FROM (granted_at - created_at))',
      `grants WHERE granted_at IS NOT NULL`,
    ),
    approval_sla_breaches: await count(
      `SELECT count(*) AS n FROM requests WHERE status = 'lapsed'`,
    ),
    requests_by_status: Object.fromEntries(
      (
        await sql.query<{ status: string; n: number | string }>(
          'SELECT status, count(*) AS n FROM requests GROUP BY status ORDER BY status',
        )
      ).map((r) => [r.status, Number(r.n)]),
    ),
    // Every review item, campaign and standalone (post-event, mover, …); completion is null
    // while there are none.
    reviews: {
      open_items: openItems,
      overdue_items: await count(
        `SELECT count(*) AS n FROM review_items WHERE decision IS NULL AND due_at < $1`,
        [now],
      ),
      completion:
        allItems > 0 ? Math.round(((allItems - openItems) / allItems) * 1000) / 1000 : null,
      campaigns_open: await count(
        `SELECT count(*) AS n FROM review_campaigns WHERE status = 'open'`,
      ),
    },
  };
}
