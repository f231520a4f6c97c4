import {
  Alert,
  AppShell,
  Badge,
  Burger,
  Button,
  Center,
  Group,
  Loader,
  NavLink,
  Text,
  Title,
} from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect } from 'react';
import { ApiError, api, authCall, setCsrfToken, unwrap, type Me } from './api';
import { Access } from './pages/Access';
import { Dashboard } from './pages/Dashboard';
import { Evidence } from './pages/Evidence';
import { Home } from './pages/Home';
import { Inbox } from './pages/Inbox';
import { RequestAccess } from './pages/RequestAccess';
import { SignIn } from './pages/SignIn';
import { navigate, useLocation } from './router';

/** Who is signed in; `null` when nobody is (401), so the sign-in page shows. */
export function useMe() {
  return useQuery({
    queryKey: ['me'],
    queryFn: async (): Promise<Me | null> => {
      try {
        const me = await unwrap(api.GET('/api/v1/me'));
        setCsrfToken(me.csrf_token);
        return me;
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) {
          setCsrfToken(undefined);
          return null;
        }
        throw e;
      }
    },
  });
}

const PAGES = [
  { path: '/request', label: 'Request access', scope: 'request' },
  { path: '/inbox', label: 'Approvals', scope: 'approve' },
  { path: '/access', label: 'Who has what', scope: 'read' },
  { path: '/evidence', label: 'Evidence', scope: 'audit' },
  { path: '/dashboard', label: 'Dashboard', scope: 'audit' },
] as const;

export function App() {
  const me = useMe();
  const { path } = useLocation();
  const [opened, { toggle, close }] = useDisclosure();
  const client = useQueryClient();
  useEffect(() => {
    const title = PAGES.find((p) => p.path === path)?.label;
    document.title = title ? `${title} · Gatehouse` : 'Gatehouse';
  }, [path]);

  if (me.isPending)
    return (
      <Center h="100vh">
        <Loader role="status" aria-label="Loading" />
      </Center>
    );
  if (me.isError)
    return (
      <Center h="100vh" p="md">
        <Alert color="red" title="Gatehouse does not answer">
          {me.error.message}
        </Alert>
      </Center>
    );
  if (me.data === null) return <SignIn onSignedIn={() => void client.invalidateQueries()} />;

  const who = me.data;
  const signOut = async () => {
    await authCall('/auth/logout', {}).catch(() => undefined);
    setCsrfToken(undefined);
    client.clear();
    navigate('/');
    await client.invalidateQueries({ queryKey: ['me'] });
  };
  const go = (to: string) => {
    navigate(to);
    close();
  };
  const page = (() => {
    switch (path) {
      case '/request':
        return <RequestAccess me={who} />;
      case '/inbox':
        return <Inbox me={who} />;
      case '/access':
        return <Access me={who} />;
      case '/evidence':
        return <Evidence />;
      case '/dashboard':
        return <Dashboard />;
      default:
        return <Home me={who} go={go} />;
    }
  })();

  return (
    <AppShell
      header={{ height: 56 }}
      navbar={{ width: 220, breakpoint: 'sm', collapsed: { mobile: !opened } }}
      padding="md"
    >
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between" wrap="nowrap">
          <Group gap="sm" wrap="nowrap">
            <Burger
              opened={opened}
              onClick={toggle}
              hiddenFrom="sm"
              size="sm"
              aria-label="Toggle navigation"
            />
            <Title order={1} size="h3">
              <a
                href="/"
                onClick={(e) => (e.preventDefault(), go('/'))}
                style={{ color: 'inherit', textDecoration: 'none' }}
              >
                Gatehouse
              </a>
            </Title>
          </Group>
          <Group gap="xs" wrap="nowrap">
            <Text size="sm" visibleFrom="xs" data-testid="signed-in-as">
              {who.identity}
            </Text>
            <Button variant="default" size="xs" onClick={() => void signOut()}>
              Sign out
            </Button>
          </Group>
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="xs" aria-label="Pages">
        {PAGES.filter((p) => who.scopes.includes(p.scope)).map((p) => (
          <NavLink
            key={p.path}
            href={p.path}
            label={p.label}
            active={path === p.path}
            aria-current={path === p.path ? 'page' : undefined}
            onClick={(e) => {
              e.preventDefault();
              go(p.path);
            }}
            rightSection={
              p.path === '/inbox' && who.waiting.requests.length > 0 ? (
                <Badge
                  size="sm"
                  color="orange"
                  aria-label={`${who.waiting.requests.length} waiting`}
                >
                  {who.waiting.requests.length}
                </Badge>
              ) : undefined
            }
          />
        ))}
      </AppShell.Navbar>
      <AppShell.Main>{page}</AppShell.Main>
    </AppShell>
  );
}
