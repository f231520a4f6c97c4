import type { ConnectorConfig } from '../model.js';
import { parseDuration } from '../duration.js';

/** What a connector's merge of its target with the grants finds. */
export const CONNECTOR_FINDING_KINDS = [
  'unmanaged',
  'missing',
  'revocation_failed',
  'orphaned',
] as const;
export type ConnectorFindingKind = (typeof CONNECTOR_FINDING_KINDS)[number];
/** What comparing an integration's tickets with the live record finds (core/reconcile/tickets.ts). */
export const TICKET_FINDING_KINDS = [
  'ticket_done_not_verified',
  'ticket_closed_access_present',
  'ticket_cancelled_access_present',
] as const;
export const FINDING_KINDS = [...CONNECTOR_FINDING_KINDS, ...TICKET_FINDING_KINDS] as const;
export type FindingKind = (typeof FINDING_KINDS)[number];

/** What a connector does with a finding of one kind: record it, fix it, or (unmanaged only) adopt it. */
export type Mode = 'report' | 'remediate' | 'adopt';

export interface ReconcileSettings {
  /** Seconds between scheduled runs; null: only when asked. */
  every: number | null;
  modes: Record<ConnectorFindingKind, Mode>;
}

/**
 * A connector's `reconcile:` entry as stored (connectors.yaml as written, checked by `validate`):
 * every mode defaults to `report`, so drift is never fixed unless the configuration says so.
 */
export function reconcileSettings(c: ConnectorConfig): ReconcileSettings {
  const raw = c.settings.reconcile;
  const r = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  const mode = (kind: ConnectorFindingKind): Mode => {
    const v = r[kind];
    if (v === 'remediate') return v;
    if (v === 'adopt' && kind === 'unmanaged') return v;
    return 'report';
  };
  return {
    every:
      typeof r.every === 'string' || typeof r.every === 'number'
        ? parseDuration(String(r.every), `connectors.${c.name}.reconcile.every`)
        : null,
    modes: {
      unmanaged: mode('unmanaged'),
      missing: mode('missing'),
      revocation_failed: mode('revocation_failed'),
      orphaned: mode('orphaned'),
    },
  };
}
export type TicketFindingKind = (typeof TICKET_FINDING_KINDS)[number];
