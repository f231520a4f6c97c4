import {
  Alert,
  Anchor,
  Badge,
  Button,
  Card,
  Group,
  List,
  Loader,
  Select,
  SimpleGrid,
  Stack,
  Text,
  TextInput,
  Textarea,
  Title,
} from '@mantine/core';
import { useDebouncedValue } from '@mantine/hooks';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useMemo, useState } from 'react';
import {
  ApiError,
  api,
  unwrap,
  type Catalog,
  type Me,
  type RequestBody,
  type RequestView,
} from '../api';
import { Risk, Status, duration } from '../format';
import { navigate } from '../router';

type App = Catalog['apps'][number];
type Entitlement = App['entitlements'][number];

/** The form's fields, named as the API's `field` names them, so an error lands beside its input. */
const FIELD_OF: Record<string, string> = {
  entitlement: 'entitlement',
  beneficiary: 'beneficiary',
  duration: 'duration',
  reason: 'reason',
  justification: 'reason',
  ticket: 'ticket',
};

export function useCatalog() {
  return useQuery({ queryKey: ['catalog'], queryFn: () => unwrap(api.GET('/api/v1/catalog')) });
}

export function RequestAccess({ me }: { me: Me }) {
  const catalog = useCatalog();
  const client = useQueryClient();
  const [entitlement, setEntitlement] = useState<string | null>(null);
  const [beneficiary, setBeneficiary] = useState(me.identity);
  const [dur, setDur] = useState('');
  const [reason, setReason] = useState('');
  const [ticket, setTicket] = useState('');
  const [submitted, setSubmitted] = useState<RequestView>();

  const found = useMemo(() => {
    for (const app of catalog.data?.apps ?? [])
      for (const e of app.entitlements) if (e.id === entitlement) return { app, e };
    return undefined;
  }, [catalog.data, entitlement]);

  const body: RequestBody | undefined = entitlement
    ? {
        entitlement,
        beneficiary: beneficiary.trim(),
        reason,
        ...(dur.trim() ? { duration: dur.trim() } : {}),
        ...(ticket.trim() ? { ticket: ticket.trim() } : {}),
      }
    : undefined;
  const [debounced] = useDebouncedValue(body, 350);
  const preview = useQuery({
    queryKey: ['explain', debounced],
    queryFn: () => unwrap(api.POST('/api/v1/explain', { body: debounced! })),
    enabled: debounced !== undefined && debounced.beneficiary !== '',
    placeholderData: (previous) => previous,
  });
  const submit = useMutation({
    mutationFn: (b: RequestBody) => unwrap(api.POST('/api/v1/requests', { body: b })),
    onSuccess: (r) => {
      setSubmitted(r);
      void client.invalidateQueries({ queryKey: ['catalog'] });
    },
  });

  const failure = (submit.error ?? preview.error) as ApiError | Error | null;
  const fieldError = (name: string) =>
    failure instanceof ApiError && failure.field && FIELD_OF[failure.field] === name
      ? failure.message
      : undefined;
  const unplaced =
    failure && !(failure instanceof ApiError && failure.field && FIELD_OF[failure.field])
      ? failure.message
      : undefined;

  if (submitted)
    return (
      <Stack maw={720}>
        <Title order={2}>Request sent</Title>
        <Card withBorder>
          <Group gap="xs">
            <Text fw={600}>{submitted.id}</Text>
            <Status value={submitted.status} />
          </Group>
          <Text mt="xs">
            {submitted.entitlement} for {submitted.beneficiary}
          </Text>
          <Decision view={submitted} />
        </Card>
        <Group>
          <Button
            onClick={() => {
              setSubmitted(undefined);
              submit.reset();
              setReason('');
              setTicket('');
            }}
          >
            Request something else
          </Button>
          {me.scopes.includes('audit') && submitted.id && (
            <Button variant="default" onClick={() => navigate(`/evidence?id=${submitted.id}`)}>
              Audit trail
            </Button>
          )}
        </Group>
      </Stack>
    );

  return (
    <Stack>
      <Title order={2}>Request access</Title>
      {catalog.isError && <Alert color="red">{catalog.error.message}</Alert>}
      <SimpleGrid cols={{ base: 1, md: 2 }} spacing="lg">
        <form
          onSubmit={(ev) => {
            ev.preventDefault();
            if (body) submit.mutate(body);
          }}
          aria-label="Access request"
        >
          <Stack>
            <Select
              label="Entitlement"
              placeholder="Search the catalog: application or entitlement"
              searchable
              clearable
              required
              data={(catalog.data?.apps ?? []).map((a) => ({
                group: `${a.name} (${a.id})`,
                items: a.entitlements.map((e) => ({ value: e.id, label: e.id })),
              }))}
              value={entitlement}
              onChange={(v) => {
                setEntitlement(v);
                submit.reset();
              }}
              nothingFoundMessage="No entitlement matches"
              error={fieldError('entitlement')}
              rightSection={catalog.isPending ? <Loader size="xs" /> : undefined}
            />
            {found && <EntitlementFacts app={found.app} e={found.e} />}
            <TextInput
              label="For"
              description="Who gets the access: you, or a non-human identity you own"
              value={beneficiary}
              onChange={(ev) => setBeneficiary(ev.currentTarget.value)}
              error={fieldError('beneficiary')}
              required
            />
            <TextInput
              label="Duration"
              description={
                found
                  ? `e.g. 8h or 30d; default ${duration(found.e.default_duration_seconds)}${
                      found.e.max_duration_seconds
                        ? `, at most ${duration(found.e.max_duration_seconds)}`
                        : ''
                    }${found.e.standing ? '; "standing" allowed' : ''}`
                  : 'e.g. 8h or 30d'
              }
              placeholder={found ? duration(found.e.default_duration_seconds) : '8h'}
              value={dur}
              onChange={(ev) => setDur(ev.currentTarget.value)}
              error={fieldError('duration')}
            />
            <Textarea
              label="Justification"
              description="Why you need it: approvers and auditors read this"
              autosize
              minRows={3}
              value={reason}
              onChange={(ev) => setReason(ev.currentTarget.value)}
              error={fieldError('reason')}
              required
            />
            <TextInput
              label="Ticket"
              description="SYSTEM:KEY, e.g. JIRA:ITSM-42"
              required={found?.e.requires_ticket === true}
              value={ticket}
              onChange={(ev) => setTicket(ev.currentTarget.value)}
              error={fieldError('ticket')}
            />
            {unplaced && (
              <Alert color="red" role="alert">
                {unplaced}
              </Alert>
            )}
            <Group>
              <Button type="submit" loading={submit.isPending} disabled={!body}>
                Submit request
              </Button>
            </Group>
          </Stack>
        </form>
        <Card withBorder component="section" aria-labelledby="preview-title">
          <Group justify="space-between">
            <Title order={3} size="h4" id="preview-title">
              Decision preview
            </Title>
            {preview.isFetching && (
              <Loader size="xs" role="status" aria-label="Updating the preview" />
            )}
          </Group>
          {!body && <Text c="dimmed">Choose an entitlement to see how it would be decided.</Text>}
          {body && preview.data && (
            <div data-testid="preview" aria-live="polite">
              <Group gap="xs" mt="xs">
                <Text>If you submit now:</Text>
                <Status value={preview.data.decision.outcome} />
              </Group>
              <Decision view={preview.data} />
            </div>
          )}
        </Card>
      </SimpleGrid>
    </Stack>
  );
}

function EntitlementFacts({ app, e }: { app: App; e: Entitlement }) {
  const licence = e.licence_tier ? app.licences.find((l) => l.tier === e.licence_tier) : undefined;
  return (
    <Card withBorder padding="sm" aria-label="About this entitlement">
      <Group gap="xs">
        <Risk risk={e.risk} />
        {e.privileged && <Badge color="red">privileged</Badge>}
        {e.requires_ticket && <Badge variant="outline">ticket required</Badge>}
        {e.break_glass && <Badge variant="outline">break-glass</Badge>}
      </Group>
      <List size="sm" mt="xs" spacing={2}>
        <List.Item>
          Application: {app.name}, owned by {app.owner}
        </List.Item>
        <List.Item>
          Duration: default {duration(e.default_duration_seconds)}
          {e.max_duration_seconds ? `, at most ${duration(e.max_duration_seconds)}` : ''}
          {e.standing ? ', standing allowed' : ''}
        </List.Item>
        {licence && (
          <List.Item>
            Seats ({licence.tier}): {licence.used} of {licence.seats} taken
            {licence.used >= licence.seats ? ' — none free' : ''}
          </List.Item>
        )}
      </List>
    </Card>
  );
}

/** Outcome, reasons, role fit and the approval route of a decided (or previewed) request. */
export function Decision({ view }: { view: RequestView }) {
  const d = view.decision as RequestView['decision'] & { role_fit_explanation?: string };
  return (
    <Stack gap={6} mt="sm">
      <List size="sm" spacing={4}>
        {d.reasons.map((r, i) => (
          <List.Item key={i}>
            <Text span fw={600} size="sm">
              {r.code.replace(/_/g, ' ')}
            </Text>
            {r.policy ? ` [${r.policy}]` : ''}: {r.message}
          </List.Item>
        ))}
      </List>
      <Text size="sm">
        Role fit {Math.round(d.role_fit * 100)}%
        {d.role_fit_explanation ? ` — ${d.role_fit_explanation}` : ''}
      </Text>
      {view.approval.stages.length > 0 && (
        <div>
          <Text size="sm" fw={600}>
            Approval route
          </Text>
          <List size="sm" type="ordered">
            {view.approval.stages.map((s, i) => (
              <List.Item key={i}>
                {s.rule}: {s.approvers.join(', ') || 'nobody'} ({s.state})
              </List.Item>
            ))}
          </List>
        </div>
      )}
      {view.grant && (
        <Text size="sm">
          Grant{' '}
          <Anchor
            href={`/access?identity=${encodeURIComponent(view.beneficiary)}&entitlement=${encodeURIComponent(view.entitlement)}`}
          >
            {view.grant.id}
          </Anchor>
          : {view.grant.state}
        </Text>
      )}
    </Stack>
  );
}
