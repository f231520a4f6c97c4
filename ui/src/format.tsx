import { Badge } from '@mantine/core';

/** Seconds as the API's durations read: 8h, 30d, 90m. */
export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return 'standing';
  if (seconds === 0) return '0s';
  if (seconds % 86400 === 0) return `${seconds / 86400}d`;
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}

const RISK: Record<string, string> = {
  low: 'green',
  medium: 'yellow',
  high: 'orange',
  critical: 'red',
};

export function Risk({ risk }: { risk: string | undefined }) {
  if (!risk) return null;
  return (
    <Badge color={RISK[risk] ?? 'gray'} variant="light" aria-label={`risk ${risk}`}>
      {risk} risk
    </Badge>
  );
}

const STATUS: Record<string, string> = {
  approved: 'green',
  auto_approved: 'green',
  active: 'green',
  pending_approval: 'yellow',
  needs_approval: 'yellow',
  provisioning: 'blue',
  revoking: 'orange',
  rejected: 'red',
  failed: 'red',
  revoke_failed: 'red',
  revoked: 'gray',
  cancelled: 'gray',
  lapsed: 'gray',
};

export function Status({ value }: { value: string }) {
  return (
    <Badge color={STATUS[value] ?? 'gray'} variant="light">
      {value.replace(/_/g, ' ')}
    </Badge>
  );
}

export const when = (iso: string | null | undefined) =>
  iso ? new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' }) : '—';
