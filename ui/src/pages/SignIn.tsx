import { Alert, Button, Center, Paper, Select, Stack, Text, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { ApiError, authCall } from '../api';

interface Methods {
  oidc: boolean;
  demo: boolean;
}
interface DemoList {
  label: string;
  identities: { id: string; kind: string; display_name: string }[];
}

/** OpenID Connect for people; on a demo store only, the labelled demo sign-in as anyone. */
export function SignIn({ onSignedIn }: { onSignedIn: () => void }) {
  const methods = useQuery({
    queryKey: ['auth-methods'],
    queryFn: () => authCall<Methods>('/auth/methods'),
  });
  const demo = useQuery({
    queryKey: ['auth-demo'],
    queryFn: () => authCall<DemoList>('/auth/demo'),
    enabled: methods.data?.demo === true,
  });
  const [identity, setIdentity] = useState<string | null>(null);
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const returnTo = window.location.pathname + window.location.search;

  const demoSignIn = async () => {
    if (!identity) return setError('choose an identity to sign in as');
    setBusy(true);
    try {
      await authCall('/auth/demo', { identity });
      onSignedIn();
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Center mih="100vh" p="md" component="main">
      <Paper withBorder shadow="sm" p="xl" w={440} maw="100%">
        <Stack>
          <Title order={1} size="h2">
            Sign in to Gatehouse
          </Title>
          {methods.isPending && <Text>Checking how you can sign in…</Text>}
          {methods.isError && <Alert color="red">{methods.error.message}</Alert>}
          {methods.data?.oidc && (
            <Button
              component="a"
              href={`/auth/login?return_to=${encodeURIComponent(returnTo)}`}
              size="md"
            >
              Sign in with your organisation
            </Button>
          )}
          {methods.data && !methods.data.oidc && !methods.data.demo && (
            <Alert color="yellow" title="No sign-in is configured">
              Add <code>oidc:</code> to gatehouse.yaml and apply it; API tokens work meanwhile.
            </Alert>
          )}
          {methods.data?.demo && (
            <Stack gap="sm" aria-labelledby="demo-title" component="section">
              <Paper
                p="sm"
                withBorder
                style={{
                  borderColor: 'var(--mantine-color-orange-7)',
                  background: 'var(--mantine-color-orange-0)',
                }}
              >
                <Text fw={700} id="demo-title">
                  Demo sign-in
                </Text>
                <Text size="sm">
                  {demo.data?.label ??
                    'No password: act as any identity of this demo organisation. A production store never offers it.'}
                </Text>
              </Paper>
              <Select
                label="Sign in as"
                placeholder="Choose a demo identity"
                searchable
                data={(demo.data?.identities ?? [])
                  .filter((i) => i.kind === 'human')
                  .map((i) => ({ value: i.id, label: `${i.display_name} (${i.id})` }))}
                value={identity}
                onChange={(v) => {
                  setIdentity(v);
                  setError(undefined);
                }}
                error={error}
                nothingFoundMessage="Nobody by that name"
              />
              <Button onClick={() => void demoSignIn()} loading={busy} variant="filled">
                Sign in (demo)
              </Button>
            </Stack>
          )}
        </Stack>
      </Paper>
    </Center>
  );
}
