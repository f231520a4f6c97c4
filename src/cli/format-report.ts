import { printable } from './format.js';
import { HELP_WIDTH, wrap } from './help.js';

type Report = Record<string, unknown>;

/** One figure: where it is in the report, its label, its unit, and what it means. */
interface Figure {
  key: string;
  label: string;
  unit?:
    'seconds' | 'grants' | 'requests' | 'items' | 'identities' | 'jobs' | 'share' | 'credentials';
  means: string;
}

/** The report's figures in sections, control beside speed (PRODUCT.md section 10). */
const SECTIONS: { title: string; figures: Figure[] }[] = [
  {
    title: 'Revocation',
    figures: [
      {
        key: 'revocation_latency_seconds',
        label: 'latency p50 / p95',
        unit: 'seconds',
        means: 'from when removal was due to when the target was read back without it',
      },
      {
        key: 'revocation_sla_seconds',
        label: 'SLA',
        unit: 'seconds',
        means: 'revocation_sla in gatehouse.yaml',
      },
      {
        key: 'revocation_sla_breaches',
        label: 'SLA breaches',
        unit: 'grants',
        means: 'removals verified later than the SLA, or still not verified past it',
      },
      {
        key: 'failed_revocations',
        label: 'failed revocations',
        unit: 'grants',
        means:
          'revoke_failed: access may still be in the target; retried until removal is verified',
      },
    ],
  },
  {
    title: 'Standing and privileged access',
    figures: [
      {
        key: 'grants_without_expiry',
        label: 'without expiry',
        unit: 'grants',
        means: 'active grants that never expire',
      },
      {
        key: 'standing_access',
        label: 'standing access',
        unit: 'grants',
        means: 'without expiry, plus revocations not yet verified',
      },
      {
        key: 'standing_privileged',
        label: 'standing privileged',
        unit: 'grants',
        means: 'standing access to privileged entitlements',
      },
      {
        key: 'emergency_grants_active',
        label: 'emergency active',
        unit: 'grants',
        means: 'break-glass grants still live',
      },
      {
        key: 'open_emergency_reviews',
        label: 'open emergency reviews',
        unit: 'items',
        means: 'post-event reviews of break-glass access not yet decided',
      },
      {
        key: 'sod_exceptions_open',
        label: 'SoD exceptions open',
        unit: 'grants',
        means: 'live grants approved as exceptions to an SoD rule',
      },
      {
        key: 'manual_overrides',
        label: 'manual revocations',
        unit: 'grants',
        means: 'revoked by a person rather than by expiry or lifecycle',
      },
    ],
  },
  {
    title: 'Identities and licences',
    figures: [
      {
        key: 'nhi_without_owner',
        label: 'non-human without owner',
        unit: 'identities',
        means: 'active service accounts, keys and agents with no active owner',
      },
      {
        key: 'credentials_past_rotation',
        label: 'credentials past rotation',
        unit: 'credentials',
        means: 'issued credentials of active grants older than their rotation period',
      },
      {
        key: 'licence_seats_inactive',
        label: 'seats on inactive identities',
        unit: 'grants',
        means: 'licensed access held by suspended or terminated identities',
      },
      {
        key: 'findings_by_kind',
        label: 'reconciliation findings',
        means: 'target state that differs from the record, by kind',
      },
    ],
  },
  {
    title: 'Provisioning and the job queue',
    figures: [
      {
        key: 'grants_by_state',
        label: 'grants by state',
        unit: 'grants',
        means: 'the live record',
      },
      {
        key: 'grants_retrying',
        label: 'retrying',
        unit: 'grants',
        means: 'a change whose last attempt failed and that will be tried again',
      },
      {
        key: 'failed_applies',
        label: 'failed applies',
        unit: 'grants',
        means: 'access that never took effect (grants retry queues it again)',
      },
      {
        key: 'grants_verified_by_read_back',
        label: 'active, verified by read-back',
        unit: 'grants',
        means: 'a connector read the target and found the access',
      },
      {
        key: 'grants_attested',
        label: 'active, attested',
        unit: 'grants',
        means: 'a fulfiller of a manual connector said the access is there; nothing read it',
      },
      {
        key: 'tasks_open',
        label: 'open fulfilment tasks',
        means: 'changes waiting on people (gatehouse tasks lists them)',
      },
      {
        key: 'tasks_overdue',
        label: 'overdue fulfilment tasks',
        means: "open past their connector's sla",
      },
      {
        key: 'jobs',
        label: 'job queue',
        means:
          'unfinished jobs by kind, the oldest due job, retrying and given-up jobs by connector',
      },
    ],
  },
  {
    title: 'Notifications',
    figures: [
      {
        key: 'notification_channels',
        label: 'channels',
        means: 'notifications: in gatehouse.yaml; none: reminders are recorded but nobody is told',
      },
      {
        key: 'notifications',
        label: 'undelivered',
        means:
          'waiting (digest window or first attempt), failing (retrying), failed (given up), undeliverable (no channel configured)',
      },
    ],
  },
  {
    title: 'ITSM tickets',
    figures: [
      {
        key: 'ticket_updates',
        label: 'updates owed',
        means:
          'write-back to tickets: waiting, failing (the system down; retried in order), failed (given up)',
      },
    ],
  },
  {
    title: 'Speed',
    figures: [
      {
        key: 'time_to_decision_seconds',
        label: 'time to decision p50 / p95',
        unit: 'seconds',
        means: 'from request to approved or rejected',
      },
      {
        key: 'time_to_provision_seconds',
        label: 'time to provision p50 / p95',
        unit: 'seconds',
        means: 'from grant to verified in the target',
      },
      {
        key: 'approval_sla_breaches',
        label: 'lapsed requests',
        unit: 'requests',
        means: 'not decided within the approval timeout',
      },
      {
        key: 'requests_by_status',
        label: 'requests by status',
        unit: 'requests',
        means: 'every request ever made',
      },
    ],
  },
  {
    title: 'Reviews',
    figures: [
      { key: 'reviews', label: 'review items', means: 'open, overdue, and the share decided' },
    ],
  },
];

function value(v: unknown, unit: Figure['unit']): string {
  if (v === null || v === undefined) return '-';
  if (typeof v === 'number') return unit === 'seconds' ? seconds(v) : String(v);
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if ('p50' in o && 'p95' in o) return `${value(o.p50, unit)} / ${value(o.p95, unit)}`;
    const parts = Object.entries(o).map(([k, x]) =>
      typeof x === 'object' && x !== null
        ? `${k} {${value(x, undefined)}}`
        : `${k} ${value(x, unit)}`,
    );
    return parts.length ? parts.join(', ') : 'none';
  }
  return String(v);
}

function seconds(s: number): string {
  if (s < 120) return `${Math.round(s * 10) / 10} s`;
  if (s < 7200) return `${Math.round(s / 6) / 10} min`;
  return `${Math.round(s / 360) / 10} h`;
}

/** `report` for people: labelled sections, each figure with its unit and what it means. */
export function formatReport(r: Report): string {
  const out = [`Gatehouse report at ${printable(String(r.at ?? ''))}`];
  const col = 30;
  for (const s of SECTIONS) {
    const shown = s.figures.filter((f) => f.key in r);
    if (shown.length === 0) continue;
    out.push('', s.title);
    for (const f of shown) {
      const unit =
        f.unit && f.unit !== 'seconds' && typeof r[f.key] === 'number' ? ` ${f.unit}` : '';
      const text = `${printable(value(r[f.key], f.unit))}${unit}`;
      out.push(
        ...wrap(text, HELP_WIDTH - col - 2).map((l, i) =>
          i === 0 ? `  ${f.label.padEnd(col)}${l}` : ' '.repeat(col + 2) + l,
        ),
      );
      out.push(...wrap(f.means, HELP_WIDTH - col - 4).map((l) => ' '.repeat(col + 4) + l));
    }
  }
  return out.join('\n');
}
