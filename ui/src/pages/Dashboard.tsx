import { Alert, Card, Loader, SimpleGrid, Stack, Text, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { api, unwrap, type Report } from '../api';
import { duration } from '../format';

type Figures = Report & {
  revocation_latency_seconds: { p50?: number | null; p95?: number | null };
  revocation_sla_seconds?: number;
  grants_by_state?: Record<string, number>;
  requests_by_status?: Record<string, number>;
  time_to_decision_seconds?: { p50?: number | null; p95?: number | null };
  time_to_provision_seconds?: { p50?: number | null; p95?: number | null };
  standing_access?: number;
  failed_grants?: number;
  grants_retrying?: number;
  sod_exceptions_open?: number;
  nhi_without_owner?: number;
  open_emergency_reviews?: number;
  approval_sla_breaches?: number;
  licence_seats_inactive?: number;
  emergency_grants_active?: number;
};

/** PRODUCT.md section 10's figures, from GET /api/v1/report, as charts and counts. */
export function Dashboard() {
  const report = useQuery({
    queryKey: ['report'],
    queryFn: () => unwrap(api.GET('/api/v1/report')) as Promise<Figures>,
  });
  if (report.isPending) return <Loader role="status" aria-label="Loading the report" />;
  if (report.isError) return <Alert color="red">{report.error.message}</Alert>;
  const r = report.data;
  const sla = r.revocation_sla_seconds ?? 0;
  const counts: [string, number | undefined, boolean][] = [
    ['Revocation SLA breaches', r.revocation_sla_breaches, true],
    ['Failed grants (apply or revoke)', r.failed_grants, true],
    ['Grants retrying', r.grants_retrying, true],
    ['Standing access', r.standing_access, false],
    ['Standing privileged access', r.standing_privileged, true],
    ['Grants without expiry', r.grants_without_expiry, false],
    ['Open SoD exceptions', r.sod_exceptions_open, false],
    ['Emergency grants active', r.emergency_grants_active, true],
    ['Open emergency reviews', r.open_emergency_reviews, true],
    ['Approval SLA breaches', r.approval_sla_breaches, true],
    ['Non-human identities without owner', r.nhi_without_owner, true],
    ['Licence seats held by inactive identities', r.licence_seats_inactive, true],
  ];
  return (
    <Stack>
      <Title order={2}>Governance dashboard</Title>
      <Text size="sm" c="dimmed">
        Figures at {new Date(String((r as { at?: string }).at ?? Date.now())).toLocaleString()}
      </Text>
      <SimpleGrid cols={{ base: 1, md: 2 }}>
        <Chart
          title="Revocation latency against the SLA"
          unit="seconds"
          bars={[
            ['p50', r.revocation_latency_seconds.p50 ?? 0],
            ['p95', r.revocation_latency_seconds.p95 ?? 0],
            [`SLA (${duration(sla)})`, sla],
          ]}
          format={(n) => duration(Math.round(n))}
        />
        <Chart
          title="Speed: decision and provisioning (p50 / p95)"
          unit="seconds"
          bars={[
            ['decision p50', r.time_to_decision_seconds?.p50 ?? 0],
            ['decision p95', r.time_to_decision_seconds?.p95 ?? 0],
            ['provision p50', r.time_to_provision_seconds?.p50 ?? 0],
            ['provision p95', r.time_to_provision_seconds?.p95 ?? 0],
          ]}
          format={(n) => `${Math.round(n)}s`}
        />
        <Chart
          title="Grants by state"
          unit="grants"
          bars={Object.entries(r.grants_by_state ?? {})}
        />
        <Chart
          title="Requests by status"
          unit="requests"
          bars={Object.entries(r.requests_by_status ?? {})}
        />
      </SimpleGrid>
      <SimpleGrid cols={{ base: 2, sm: 3, lg: 4 }} aria-label="Counts">
        {counts.map(([label, n, bad]) => (
          <Card key={label} withBorder padding="sm">
            <Text size="xl" fw={700} c={bad && (n ?? 0) > 0 ? 'red.8' : undefined}>
              {n ?? '—'}
            </Text>
            <Text size="sm">{label}</Text>
          </Card>
        ))}
      </SimpleGrid>
    </Stack>
  );
}

/**
 * A horizontal bar chart in plain SVG, with a text equivalent for screen readers: the figures
 * are few, and a chart library would add weight without adding meaning.
 */
function Chart({
  title,
  unit,
  bars,
  format = String,
}: {
  title: string;
  unit: string;
  bars: [string, number][];
  format?: (n: number) => string;
}) {
  const max = Math.max(1, ...bars.map(([, n]) => n));
  const row = 28;
  const label = 110;
  const summary = bars.map(([k, n]) => `${k}: ${format(n)}`).join(', ');
  return (
    <Card withBorder component="figure" m={0}>
      <Title order={3} size="h5" component="figcaption" mb="xs">
        {title}
      </Title>
      {bars.length === 0 ? (
        <Text size="sm">none</Text>
      ) : (
        <svg
          viewBox={`0 0 400 ${bars.length * row}`}
          width="100%"
          role="img"
          aria-label={`${title} (${unit}): ${summary}`}
        >
          {bars.map(([k, n], i) => {
            const w = ((400 - label - 70) * n) / max;
            return (
              <g key={k} transform={`translate(0 ${i * row})`}>
                <text x={0} y={18} fontSize={12} fill="#333">
                  {k.replace(/_/g, ' ')}
                </text>
                <rect x={label} y={6} width={Math.max(w, 1)} height={16} rx={3} fill="#4c6ef5" />
                <text x={label + w + 6} y={18} fontSize={12} fill="#333">
                  {format(n)}
                </text>
              </g>
            );
          })}
        </svg>
      )}
    </Card>
  );
}
