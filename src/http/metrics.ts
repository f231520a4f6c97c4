import type { FastifyInstance, onRequestHookHandler } from 'fastify';
import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Gatehouse } from '../app/gatehouse.js';
import type { Percentiles } from '../core/report/report.js';
import type { GrantState, RequestStatus } from '../core/model.js';

type Report = Awaited<ReturnType<Gatehouse['report']>>;
/** One value, or values by label value; null (or a null entry) is left out of the scrape. */
type Values = number | null | Record<string, number | null>;

interface Spec {
  name: string;
  help: string;
  label?: string;
  values: (r: Report) => Values;
}

// Every state and status is exported, 0 when there are none, so a series never just vanishes.
// Written as records so that the compiler checks them against the model's unions.
const GRANT_STATES = Object.keys({
  provisioning: 0,
  active: 0,
  revoking: 0,
  revoked: 0,
  failed: 0,
  revoke_failed: 0,
} satisfies Record<GrantState, 0>);
const REQUEST_STATUSES = Object.keys({
  pending_approval: 0,
  approved: 0,
  rejected: 0,
  cancelled: 0,
  lapsed: 0,
} satisfies Record<RequestStatus, 0>);

const quantiles = (p: Percentiles) => ({ '0.5': p.p50, '0.95': p.p95 });
const zeroed = (keys: string[], counts: Record<string, number>) => ({
  ...Object.fromEntries(keys.map((k) => [k, 0])),
  ...counts,
});

/** PRODUCT.md section 10: the report's governance and service metrics, one gauge each. */
const SPECS: Spec[] = [
  {
    name: 'gatehouse_revocation_latency_seconds',
    help: 'Revocation latency of revoked grants (trigger to confirmed removal), by quantile',
    label: 'quantile',
    values: (r) => quantiles(r.revocation_latency_seconds),
  },
  {
    name: 'gatehouse_revocation_sla_seconds',
    help: 'The configured revocation SLA',
    values: (r) => r.revocation_sla_seconds,
  },
  {
    name: 'gatehouse_revocation_sla_breaches',
    help: 'Revocations that took, or are still taking, longer than the revocation SLA',
    values: (r) => r.revocation_sla_breaches,
  },
  {
    name: 'gatehouse_grants',
    help: 'Grants by state',
    label: 'state',
    values: (r) => zeroed(GRANT_STATES, r.grants_by_state),
  },
  {
    name: 'gatehouse_grants_without_expiry',
    help: 'Active grants without an expiry',
    values: (r) => r.grants_without_expiry,
  },
  {
    name: 'gatehouse_standing_privileged_grants',
    help: 'Active grants of privileged entitlements without an expiry',
    values: (r) => r.standing_privileged,
  },
  {
    name: 'gatehouse_failed_grants',
    help: 'Grants whose provisioning or revocation failed',
    values: (r) => r.failed_grants,
  },
  {
    name: 'gatehouse_standing_access_grants',
    help: 'Active grants without an expiry, and grants whose revocation failed (access may remain)',
    values: (r) => r.standing_access,
  },
  {
    name: 'gatehouse_failed_applies',
    help: 'Grants whose provisioning failed and was given up (never took effect)',
    values: (r) => r.failed_applies,
  },
  {
    name: 'gatehouse_failed_revocations',
    help: 'Grants whose revocation keeps failing (revoke_failed: still retried, access may remain)',
    values: (r) => r.failed_revocations,
  },
  {
    name: 'gatehouse_grants_retrying',
    help: 'Grants whose apply or revoke is being retried after a failed attempt',
    values: (r) => r.grants_retrying,
  },
  {
    name: 'gatehouse_active_grants_by_verification',
    help: 'Active grants verified by reading the target back, and those a fulfiller attested (manual connectors)',
    label: 'verification',
    values: (r) => ({ read_back: r.grants_verified_by_read_back, attested: r.grants_attested }),
  },
  {
    name: 'gatehouse_fulfilment_tasks_open',
    help: 'Open fulfilment tasks of manual connectors, and those of them past their SLA',
    label: 'due',
    values: (r) => ({ all: r.tasks_open, overdue: r.tasks_overdue }),
  },
  {
    name: 'gatehouse_jobs_queued',
    help: 'Unfinished background jobs by kind',
    label: 'kind',
    values: (r) =>
      zeroed(
        ['grant.apply', 'grant.revoke', 'notification.deliver', 'itsm.writeback'],
        r.jobs.depth_by_kind,
      ),
  },
  {
    name: 'gatehouse_jobs_oldest_due_age_seconds',
    help: 'How long the longest-waiting due job has been due',
    values: (r) => r.jobs.oldest_due_age_seconds,
  },
  {
    name: 'gatehouse_jobs_retrying',
    help: 'Unfinished jobs whose last attempt failed, by connector',
    label: 'connector',
    values: (r) => r.jobs.retrying_by_queue,
  },
  {
    name: 'gatehouse_jobs_failed',
    help: 'Jobs given up after failing, by connector',
    label: 'connector',
    values: (r) => r.jobs.failed_by_queue,
  },
  {
    name: 'gatehouse_notifications_undelivered',
    help: 'Notifications not delivered: waiting, failing (retrying), failed (given up), undeliverable (no channel configured)',
    label: 'state',
    values: (r) => r.notifications,
  },
  {
    name: 'gatehouse_itsm_ticket_updates',
    help: 'Updates owed to ITSM tickets: waiting, failing (retrying while the system is down), failed (given up)',
    label: 'state',
    values: (r) => r.ticket_updates,
  },
  {
    name: 'gatehouse_emergency_grants_active',
    help: 'Active emergency (break-glass) grants',
    values: (r) => r.emergency_grants_active,
  },
  {
    name: 'gatehouse_open_emergency_reviews',
    help: 'Post-event reviews of emergency grants not yet decided',
    values: (r) => r.open_emergency_reviews,
  },
  {
    name: 'gatehouse_sod_exceptions_open',
    help: 'Provisioning or active grants that hold a separation-of-duties exception',
    values: (r) => r.sod_exceptions_open,
  },
  {
    name: 'gatehouse_manual_overrides',
    help: 'Grants revoked by hand',
    values: (r) => r.manual_overrides,
  },
  {
    name: 'gatehouse_nhi_without_owner',
    help: 'Active non-human identities without an active owner',
    values: (r) => r.nhi_without_owner,
  },
  {
    name: 'gatehouse_credentials_past_rotation',
    help: 'Issued credentials of active grants older than their rotation period',
    values: (r) => r.credentials_past_rotation,
  },
  {
    name: 'gatehouse_licence_seats_inactive',
    help: 'Grants of licensed entitlements held by identities that are no longer active',
    values: (r) => r.licence_seats_inactive,
  },
  {
    name: 'gatehouse_reconciliation_findings',
    help: 'Reconciliation findings by kind',
    label: 'kind',
    values: (r) => r.findings_by_kind,
  },
  {
    name: 'gatehouse_time_to_decision_seconds',
    help: 'Time from request to approval or rejection (birthright excluded), by quantile',
    label: 'quantile',
    values: (r) => quantiles(r.time_to_decision_seconds),
  },
  {
    name: 'gatehouse_time_to_provision_seconds',
    help: 'Time from grant creation to verified active, by quantile',
    label: 'quantile',
    values: (r) => quantiles(r.time_to_provision_seconds),
  },
  {
    name: 'gatehouse_approval_sla_breaches',
    help: 'Requests that lapsed waiting for approval',
    values: (r) => r.approval_sla_breaches,
  },
  {
    name: 'gatehouse_requests',
    help: 'Requests by status',
    label: 'status',
    values: (r) => zeroed(REQUEST_STATUSES, r.requests_by_status),
  },
  {
    name: 'gatehouse_review_items_open',
    help: 'Access review items not yet decided',
    values: (r) => r.reviews.open_items,
  },
  {
    name: 'gatehouse_review_items_overdue',
    help: 'Access review items not yet decided and past their due date',
    values: (r) => r.reviews.overdue_items,
  },
  {
    name: 'gatehouse_review_completion_ratio',
    help: 'Share of access review items decided (absent while there are none)',
    values: (r) => r.reviews.completion,
  },
  {
    name: 'gatehouse_review_campaigns_open',
    help: 'Access review campaigns open',
    values: (r) => r.reviews.campaigns_open,
  },
];

/**
 * A registry of its own with the process metrics and the governance gauges, computed at scrape
 * time: the gauges' collect() callbacks of one scrape share one report query.
 */
export function metricsRegistry(report: () => Promise<Report>): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // registry.metrics() calls every collect() before awaiting any, so they all join the query the
  // first one started; it is forgotten once settled, and the next scrape asks again.
  let inFlight: Promise<Report> | undefined;
  const current = () =>
    (inFlight ??= report().finally(() => {
      inFlight = undefined;
    }));
  for (const spec of SPECS) {
    new Gauge({
      name: spec.name,
      help: spec.help,
      labelNames: spec.label ? [spec.label] : [],
      registers: [registry],
      async collect() {
        const v = spec.values(await current());
        this.reset();
        if (v === null) this.remove();
        else if (typeof v === 'number') this.set(v);
        else
          for (const [k, n] of Object.entries(v))
            if (n !== null) this.set({ [spec.label ?? '']: k }, n);
      },
    });
  }
  return registry;
}

/** GET /metrics in the Prometheus text format, behind `guard` (a token with scope `metrics`). */
export function registerMetrics(
  server: FastifyInstance,
  app: Pick<Gatehouse, 'report'>,
  guard: onRequestHookHandler,
): void {
  const registry = metricsRegistry(() => app.report());
  server.get('/metrics', { schema: { hide: true }, onRequest: guard }, async (_req, reply) => {
    const text = await registry.metrics();
    return reply.type(registry.contentType).send(text);
  });
}
