import { Button, Card, SimpleGrid, Stack, Text, Title } from '@mantine/core';
import type { Me } from '../api';

/** Where a person lands: what waits on them, and the way to each task. */
export function Home({ me, go }: { me: Me; go: (to: string) => void }) {
  const waiting = me.waiting.requests.length;
  const cards = [
    {
      title: 'Request access',
      text: 'Find an entitlement, see how it would be decided, and ask for it.',
      to: '/request',
      scope: 'request',
    },
    {
      title: waiting ? `${waiting} request${waiting === 1 ? '' : 's'} wait on you` : 'Approvals',
      text: waiting
        ? 'Approve or reject them, with the facts beside each.'
        : 'Nothing waits on you.',
      to: '/inbox',
      scope: 'approve',
    },
    {
      title: 'Who has what',
      text: 'Grants by identity, application or entitlement; failures first.',
      to: '/access',
      scope: 'read',
    },
    {
      title: 'Evidence',
      text: 'The audit trail of a request or grant, and the chain check.',
      to: '/evidence',
      scope: 'audit',
    },
    {
      title: 'Dashboard',
      text: 'Revocation, standing access, decisions and provisioning figures.',
      to: '/dashboard',
      scope: 'audit',
    },
  ].filter((c) => me.scopes.includes(c.scope));
  return (
    <Stack>
      <Title order={2}>Welcome, {me.identity}</Title>
      <SimpleGrid cols={{ base: 1, sm: 2, lg: 3 }}>
        {cards.map((c) => (
          <Card key={c.to} withBorder component="section" aria-label={c.title}>
            <Title order={3} size="h4">
              {c.title}
            </Title>
            <Text size="sm" mt="xs" mb="md">
              {c.text}
            </Text>
            <Button variant="light" mt="auto" onClick={() => go(c.to)}>
              Open{' '}
              {c.title.toLowerCase().startsWith('request access') ? 'request form' : c.to.slice(1)}
            </Button>
          </Card>
        ))}
      </SimpleGrid>
    </Stack>
  );
}
