import {
  Alert,
  Badge,
  Button,
  Card,
  Group,
  List,
  Loader,
  Stack,
  Text,
  Textarea,
  Title,
} from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { ApiError, api, unwrap, type Me, type RequestView } from '../api';
import { Risk, Status, duration, when } from '../format';
import { Decision, useCatalog } from './RequestAccess';

/** What waits on the signed-in approver, with the facts to decide on, and approve/reject. */
export function Inbox({ me }: { me: Me }) {
  const waiting = useQuery({
    queryKey: ['inbox', me.identity],
    queryFn: () =>
      unwrap(
        api.GET('/api/v1/requests', {
          params: { query: { approver: me.identity, status: 'pending_approval', limit: '100' } },
        }),
      ),
  });
  return (
    <Stack>
      <Title order={2}>Approvals waiting on you</Title>
      {waiting.isPending && <Loader role="status" aria-label="Loading" />}
      {waiting.isError && <Alert color="red">{waiting.error.message}</Alert>}
      {waiting.data?.requests.length === 0 && <Text>Nothing waits on you.</Text>}
      {waiting.data?.requests.map((r) => (
        <Waiting key={r.id} request={r} me={me} />
      ))}
    </Stack>
  );
}

function Waiting({ request: r, me }: { request: RequestView; me: Me }) {
  const client = useQueryClient();
  const catalog = useCatalog();
  const [comment, setComment] = useState('');
  const act = useMutation({
    mutationFn: async (verdict: 'approve' | 'reject') => {
      const params = { path: { id: r.id! } };
      return verdict === 'approve'
        ? unwrap(api.POST('/api/v1/requests/{id}/approve', { params, body: { comment } }))
        : unwrap(api.POST('/api/v1/requests/{id}/reject', { params, body: { comment } }));
    },
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ['me'] });
    },
  });
  const v = r as RequestView & {
    justification?: string;
    duration_seconds?: number | null;
    created_at?: string;
  };
  const inputs = (
    r.decision as { inputs?: { entitlement?: { risk?: string; privileged?: boolean } } }
  ).inputs;
  const sod = r.decision.reasons.filter((x) => x.code.startsWith('sod_'));
  const ent = catalog.data?.apps
    .flatMap((a) => a.entitlements.map((e) => ({ a, e })))
    .find((x) => x.e.id === r.entitlement);
  const licence = ent?.e.licence_tier
    ? ent.a.licences.find((l) => l.tier === ent.e.licence_tier)
    : undefined;
  const error = act.error instanceof ApiError ? act.error : undefined;
  const titleId = `req-${r.id}`;

  if (act.data)
    return (
      <Card withBorder component="article" aria-labelledby={titleId}>
        <Group gap="xs">
          <Text fw={600} id={titleId}>
            {r.entitlement} for {r.beneficiary}
          </Text>
          <Status value={act.data.status} />
        </Group>
        <Text size="sm" mt="xs">
          You {act.variables === 'approve' ? 'approved' : 'rejected'} {r.id}.
          {act.data.grant ? ` Grant ${act.data.grant.id}: ${act.data.grant.state}.` : ''}
        </Text>
      </Card>
    );

  return (
    <Card withBorder component="article" aria-labelledby={titleId}>
      <Group justify="space-between" align="flex-start">
        <div>
          <Title order={3} size="h4" id={titleId}>
            {r.entitlement} for {r.beneficiary}
          </Title>
          <Text size="sm" c="dimmed">
            {r.id}, asked by {r.requester} {v.created_at ? `on ${when(v.created_at)}` : ''}
          </Text>
        </div>
        <Group gap="xs">
          <Risk risk={inputs?.entitlement?.risk} />
          {inputs?.entitlement?.privileged && <Badge color="red">privileged</Badge>}
          {sod.length > 0 && (
            <Badge color="red" variant="filled">
              SoD conflict
            </Badge>
          )}
        </Group>
      </Group>
      <List size="sm" mt="sm" spacing={4}>
        <List.Item>
          <b>Justification:</b> {v.justification || '—'}
        </List.Item>
        <List.Item>
          <b>Ticket:</b> {r.ticket ?? 'none'}
        </List.Item>
        <List.Item>
          <b>Duration:</b> {duration(v.duration_seconds)}
        </List.Item>
        {licence && (
          <List.Item>
            <b>Seats ({licence.tier}):</b> {licence.used} of {licence.seats} taken
          </List.Item>
        )}
        {sod.map((s, i) => (
          <List.Item key={i}>
            <Text span c="red" fw={600} size="sm">
              Segregation of duties:
            </Text>{' '}
            {s.message}
          </List.Item>
        ))}
      </List>
      <Decision view={r} />
      <Stack gap="xs" mt="md">
        <Textarea
          label="Comment"
          description="Required to reject; recorded in the audit trail"
          value={comment}
          onChange={(e) => setComment(e.currentTarget.value)}
          error={error && (error.field === 'comment' || !error.field) ? error.message : undefined}
          autosize
          minRows={2}
        />
        <Group>
          <Button
            color="green"
            onClick={() => act.mutate('approve')}
            loading={act.isPending && act.variables === 'approve'}
            disabled={r.requester === me.identity && r.beneficiary === me.identity}
          >
            Approve
          </Button>
          <Button
            color="red"
            variant="light"
            onClick={() => act.mutate('reject')}
            loading={act.isPending && act.variables === 'reject'}
          >
            Reject
          </Button>
        </Group>
      </Stack>
    </Card>
  );
}
