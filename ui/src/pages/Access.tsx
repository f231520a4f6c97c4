import {
  Alert,
  Badge,
  Button,
  Group,
  Loader,
  Select,
  SimpleGrid,
  Stack,
  Table,
  Text,
  TextInput,
  Title,
} from '@mantine/core';
import { useDebouncedValue } from '@mantine/hooks';
import { useQueries, useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { ApiError, api, unwrap, type Grant, type Me } from '../api';
import { Status, when } from '../format';
import { navigate, useLocation } from '../router';

/** States where access may remain or is not yet known to be right: shown first, in red. */
const TROUBLE = ['revoke_failed', 'failed', 'revoking'] as const;
const STATES = ['provisioning', 'active', 'revoking', 'revoked', 'failed', 'revoke_failed'];
const NHI_KINDS = ['service_account', 'api_key', 'workload', 'ai_agent'] as const;

/** Who has what: grants by identity, app or entitlement, filtered and paged by the server. */
export function Access({ me }: { me: Me }) {
  const { query } = useLocation();
  const [identity, setIdentity] = useState(query.get('identity') ?? '');
  const [app, setApp] = useState(query.get('app') ?? '');
  const [entitlement, setEntitlement] = useState(query.get('entitlement') ?? '');
  const [state, setState] = useState<string | null>(query.get('state'));
  // The cursors of the pages before this one, so "Previous" goes back without the server keeping any.
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const filters = {
    ...(identity.trim() ? { identity: identity.trim() } : {}),
    ...(app.trim() ? { app: app.trim() } : {}),
    ...(entitlement.trim() ? { entitlement: entitlement.trim() } : {}),
  };
  const [f] = useDebouncedValue(filters, 300);
  const cursor = cursors.at(-1);
  const grants = useQuery({
    queryKey: ['grants', f, state, cursor],
    queryFn: () =>
      unwrap(
        api.GET('/api/v1/grants', {
          params: {
            query: {
              ...f,
              ...(state ? { state } : {}),
              ...(cursor ? { cursor } : {}),
              limit: '25',
            },
          },
        }),
      ),
    placeholderData: (p) => p,
  });
  const trouble = useQueries({
    queries: TROUBLE.map((s) => ({
      queryKey: ['grants', f, s, 'trouble'],
      queryFn: () =>
        unwrap(api.GET('/api/v1/grants', { params: { query: { ...f, state: s, limit: '50' } } })),
    })),
  });
  const troubled = trouble.flatMap((q) => q.data?.grants ?? []);
  const nhis = useQueries({
    queries: NHI_KINDS.map((kind) => ({
      queryKey: ['identities', kind],
      queryFn: () =>
        unwrap(api.GET('/api/v1/identities', { params: { query: { kind, limit: '100' } } })),
    })),
  });
  const error = grants.error instanceof ApiError ? grants.error : undefined;
  const reset = () => setCursors([undefined]);

  return (
    <Stack>
      <Title order={2}>Who has what</Title>
      <SimpleGrid cols={{ base: 1, xs: 2, md: 4 }}>
        <TextInput
          label="Identity"
          placeholder="alice@acme.test"
          value={identity}
          onChange={(e) => (setIdentity(e.currentTarget.value), reset())}
          error={error?.field === 'identity' ? error.message : undefined}
        />
        <TextInput
          label="Application"
          placeholder="github"
          value={app}
          onChange={(e) => (setApp(e.currentTarget.value), reset())}
          error={error?.field === 'app' ? error.message : undefined}
        />
        <TextInput
          label="Entitlement"
          placeholder="github:write"
          value={entitlement}
          onChange={(e) => (setEntitlement(e.currentTarget.value), reset())}
          error={error?.field === 'entitlement' ? error.message : undefined}
        />
        <Select
          label="State"
          placeholder="any"
          clearable
          data={STATES}
          value={state}
          onChange={(v) => (setState(v), reset())}
          error={error?.field === 'state' ? error.message : undefined}
        />
      </SimpleGrid>
      {error && !error.field && <Alert color="red">{error.message}</Alert>}

      {troubled.length > 0 && (
        <section aria-labelledby="trouble-title">
          <Title order={3} size="h4" c="red.8" id="trouble-title">
            Needs attention: access may remain or is not verified
          </Title>
          <GrantTable grants={troubled} me={me} trouble />
        </section>
      )}

      <section aria-labelledby="grants-title">
        <Group justify="space-between">
          <Title order={3} size="h4" id="grants-title">
            Grants
          </Title>
          {grants.isFetching && <Loader size="xs" role="status" aria-label="Loading" />}
        </Group>
        {grants.data && <GrantTable grants={grants.data.grants} me={me} />}
        {grants.data?.grants.length === 0 && <Text>No grant matches.</Text>}
        <Group mt="sm">
          <Button
            variant="default"
            disabled={cursors.length < 2}
            onClick={() => setCursors((c) => c.slice(0, -1))}
          >
            Previous page
          </Button>
          <Button
            variant="default"
            disabled={!grants.data?.next_cursor}
            onClick={() => setCursors((c) => [...c, grants.data!.next_cursor!])}
          >
            Next page
          </Button>
          <Text size="sm">Page {cursors.length}</Text>
        </Group>
      </section>

      <section aria-labelledby="nhi-title">
        <Title order={3} size="h4" id="nhi-title">
          Non-human identities and their owners
        </Title>
        <Table.ScrollContainer minWidth={480}>
          <Table striped>
            <Table.Thead>
              <Table.Tr>
                <Table.Th scope="col">Identity</Table.Th>
                <Table.Th scope="col">Kind</Table.Th>
                <Table.Th scope="col">Owner</Table.Th>
                <Table.Th scope="col">Grants</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {nhis
                .flatMap((q) => q.data?.identities ?? [])
                .map((i) => (
                  <Table.Tr key={i.id}>
                    <Table.Td>{i.id}</Table.Td>
                    <Table.Td>{i.kind.replace(/_/g, ' ')}</Table.Td>
                    <Table.Td>
                      {i.owner ?? (
                        <Text span c="red.8" fw={600} size="sm">
                          no owner
                        </Text>
                      )}
                    </Table.Td>
                    <Table.Td>{i.grants}</Table.Td>
                  </Table.Tr>
                ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      </section>
    </Stack>
  );
}

function GrantTable({ grants, me, trouble }: { grants: Grant[]; me: Me; trouble?: boolean }) {
  return (
    <Table.ScrollContainer minWidth={640}>
      <Table striped highlightOnHover>
        <Table.Thead>
          <Table.Tr>
            <Table.Th scope="col">Grant</Table.Th>
            <Table.Th scope="col">Identity</Table.Th>
            <Table.Th scope="col">Entitlement</Table.Th>
            <Table.Th scope="col">State</Table.Th>
            <Table.Th scope="col">Verified</Table.Th>
            <Table.Th scope="col">Expires</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {grants.map((g) => (
            <Table.Tr key={g.id} c={trouble ? 'red.9' : undefined} data-state={g.state}>
              <Table.Td>
                {me.scopes.includes('audit') ? (
                  <a
                    href={`/evidence?id=${g.id}`}
                    onClick={(e) => (e.preventDefault(), navigate(`/evidence?id=${g.id}`))}
                  >
                    {g.id}
                  </a>
                ) : (
                  g.id
                )}
              </Table.Td>
              <Table.Td>{g.identity}</Table.Td>
              <Table.Td>{g.entitlement}</Table.Td>
              <Table.Td>
                <Status value={g.state} />
              </Table.Td>
              <Table.Td>
                {g.verified_at ? (
                  when(g.verified_at)
                ) : (
                  <Badge color="red" variant="outline">
                    not verified
                  </Badge>
                )}
              </Table.Td>
              <Table.Td>{g.expires_at ? when(g.expires_at) : 'never'}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}
