import {
  Alert,
  Badge,
  Button,
  Code,
  Group,
  Loader,
  Stack,
  Text,
  TextInput,
  Timeline,
  Title,
} from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { ApiError, api, unwrap } from '../api';
import { when } from '../format';
import { navigate, useLocation } from '../router';

/** The audit trail of one request or grant as a timeline, beside the hash chain's check. */
export function Evidence() {
  const { query } = useLocation();
  const id = query.get('id') ?? '';
  const [typed, setTyped] = useState(id);
  const verify = useQuery({
    queryKey: ['audit-verify'],
    queryFn: () => unwrap(api.GET('/api/v1/audit/verify')),
  });
  const trace = useQuery({
    queryKey: ['trace', id],
    queryFn: () => unwrap(api.GET('/api/v1/audit/trace/{id}', { params: { path: { id } } })),
    enabled: id !== '',
  });
  const v = verify.data as
    | {
        ok: boolean;
        events?: number;
        head?: { seq?: number; hash?: string } | null;
        broken_at?: unknown;
      }
    | undefined;
  const error = trace.error instanceof ApiError ? trace.error : undefined;
  return (
    <Stack maw={900}>
      <Title order={2}>Evidence</Title>
      <section aria-labelledby="chain-title">
        <Group gap="xs">
          <Title order={3} size="h4" id="chain-title">
            Audit chain
          </Title>
          {verify.isPending && <Loader size="xs" role="status" aria-label="Verifying" />}
          {v && (
            <Badge color={v.ok ? 'green' : 'red'} size="lg" data-testid="chain-status">
              {v.ok ? 'verified: every event hashes to the next' : 'BROKEN'}
            </Badge>
          )}
        </Group>
        {v && (
          <Text size="sm" mt={4}>
            {v.events !== undefined ? `${v.events} events` : ''}
            {v.head?.seq !== undefined ? `, head at seq ${v.head.seq}` : ''}
            {v.head?.hash ? (
              <>
                {' '}
                <Code>{v.head.hash.slice(0, 16)}…</Code>
              </>
            ) : null}
          </Text>
        )}
        {verify.isError && <Alert color="red">{verify.error.message}</Alert>}
      </section>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          navigate(`/evidence?id=${encodeURIComponent(typed.trim())}`);
        }}
      >
        <Group align="flex-end">
          <TextInput
            label="Request or grant id"
            placeholder="req_… or grt_…"
            value={typed}
            onChange={(e) => setTyped(e.currentTarget.value)}
            error={error?.field ? error.message : undefined}
            style={{ flex: 1, minWidth: 220 }}
          />
          <Button type="submit">Show trail</Button>
        </Group>
      </form>
      {error && !error.field && <Alert color="red">{error.message}</Alert>}
      {trace.isFetching && <Loader role="status" aria-label="Loading the trail" />}
      {trace.data && trace.data.events.length === 0 && <Text>No audit event names {id}.</Text>}
      {trace.data && trace.data.events.length > 0 && (
        <section aria-labelledby="trail-title">
          <Title order={3} size="h4" id="trail-title" mb="sm">
            Trail of {id}
          </Title>
          <Timeline bulletSize={18} lineWidth={2} active={trace.data.events.length}>
            {trace.data.events.map((e) => {
              const refs = ((e as { refs?: string[] }).refs ?? []).filter(
                (r) => r !== id && /^(req|grt)_/.test(r),
              );
              return (
                <Timeline.Item
                  key={e.seq}
                  title={e.action}
                  color={/failed|refused|rejected/.test(e.action) ? 'red' : undefined}
                >
                  <Text size="sm">
                    {when(e.at)} by {e.actor} (seq {e.seq})
                  </Text>
                  <Details details={e.details} />
                  {refs.map((r) => (
                    <Text size="sm" key={r}>
                      see{' '}
                      <a
                        href={`/evidence?id=${r}`}
                        onClick={(ev) => (
                          ev.preventDefault(),
                          setTyped(r),
                          navigate(`/evidence?id=${r}`)
                        )}
                      >
                        {r}
                      </a>
                    </Text>
                  ))}
                </Timeline.Item>
              );
            })}
          </Timeline>
        </section>
      )}
    </Stack>
  );
}

/** The event's details, flat fields only; nested ones (a whole decision) as compact JSON. */
function Details({ details }: { details: Record<string, unknown> }) {
  const entries = Object.entries(details).filter(([k]) => k !== 'decision');
  if (entries.length === 0) return null;
  return (
    <Text size="xs" c="dimmed" style={{ overflowWrap: 'anywhere' }}>
      {entries
        .map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
        .join(' · ')}
    </Text>
  );
}
