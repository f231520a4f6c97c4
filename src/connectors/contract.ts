import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import {
  applyEach,
  collectAssignments,
  readBackEach,
  revokeEach,
  type Settled,
  type Assignment,
  type Connector,
  type ConnectorCapabilities,
} from '../core/ports/connector.js';
import { TargetError } from '../core/errors.js';
import type { ConnectorModule } from './module.js';
import { connectorModule } from './modules.js';

type Target = Record<string, string>;

/** What a connector type's test sets up in a throwaway target for the shared contract. */
export interface ContractFixture {
  /** The module the connectors were built from; it must be the one listed in modules.ts. */
  module: ConnectorModule;
  /** The settings `connector` was built from, as connectors.yaml would hold them. */
  settings: Record<string, unknown>;
  /** create_accounts off. */
  connector: Connector;
  /** The same target with create_accounts on; omit for types that cannot create accounts. */
  creatingConnector?: Connector;
  /** Two existing targets the contract governs, and one that exists but is not governed. */
  governed: [Target, Target];
  ungoverned: Target;
  /** A well-formed target that does not exist. */
  missingTarget: Target;
  /** Two existing accounts without any access to the targets above. */
  accounts: [string, string];
  /** An account that does not exist yet. */
  missingAccount: string;
  /**
   * The faults every connector must survive, with short timeouts: connectors of this type whose
   * target accepts connections and never answers (at connect, after login…), and one whose
   * target refuses connections. A type that reaches no network (manual) says why instead.
   */
  faults: { unresponsive: Connector[]; refusing: Connector } | { none: string };
}

const CAPABILITIES: (keyof ConnectorCapabilities)[] = [
  'listsAssignments',
  'issuesCredentials',
  'reportsLastUse',
  'fulfilsAsynchronously',
];

const sorted = (list: Assignment[]) =>
  list.map((a) => JSON.stringify([a.account, a.target])).sort();

/**
 * The behaviour every connector owes the core, run against a real target. `cleanup` runs even
 * when setup or a check fails, and must cope with a half-built fixture.
 */
export function describeConnectorContract(
  name: string,
  makeFixture: () => Promise<ContractFixture | { skip: string }>,
  cleanup: () => Promise<void>,
): void {
  test(`the ${name} connector honours the connector contract`, async (t) => {
    try {
      const f = await makeFixture();
      if ('skip' in f) {
        t.skip(f.skip);
        return;
      }
      await contract(t, f);
    } finally {
      await cleanup();
    }
  });
}

async function contract(t: TestContext, f: ContractFixture): Promise<void> {
  const c = f.connector;
  const m = f.module;
  const caps = m.capabilities;
  const [g0, g1] = f.governed;
  const [a0, a1] = f.accounts;
  const noListing = caps.listsAssignments ? false : 'the type does not list assignments';
  const faults = 'none' in f.faults ? undefined : f.faults;
  const noFaults = 'none' in f.faults ? f.faults.none : false;

  await t.test('the module is the registered one and declares its schemas and capabilities', () => {
    assert.equal(connectorModule(m.type), m, 'listed in src/connectors/modules.ts');
    assert.equal(c.type, m.type);
    assert.deepEqual(c.capabilities, caps, "the connector reports its module's capabilities");
    for (const k of CAPABILITIES) assert.equal(typeof caps[k], 'boolean', k);
    assert.equal(m.unavailable, undefined, 'an implemented type is not marked unavailable');
    assert.ok(m.settings.safeParse(f.settings).success, 'its own settings are valid');
    assert.ok(
      !m.settings.safeParse({ ...f.settings, no_such_setting: 1 }).success,
      'an unknown setting is refused, not ignored',
    );
    for (const target of [g0, g1, f.ungoverned, f.missingTarget]) {
      assert.ok(m.target.safeParse(target).success, JSON.stringify(target));
    }
    assert.ok(!m.target.safeParse({}).success, 'an empty target is refused');
  });

  await t.test('readBack reports false for access never granted', async () => {
    assert.equal(await c.readBack({ account: a0, target: g0 }), false);
  });

  await t.test('apply grants access that readBack then reports', async () => {
    const result = await c.apply({ account: a0, target: g0 });
    if (caps.fulfilsAsynchronously) {
      assert.ok(result === undefined || result.pending === true, JSON.stringify(result));
    } else {
      assert.equal(result, undefined, 'only asynchronous types answer pending');
    }
    assert.equal(await c.readBack({ account: a0, target: g0 }), true);
    assert.equal(await c.readBack({ account: a1, target: g0 }), false);
  });

  await t.test('applying access already held succeeds and keeps it', async () => {
    await c.apply({ account: a0, target: g0 });
    assert.equal(await c.readBack({ account: a0, target: g0 }), true);
  });

  await t.test('revoke removes access so readBack reports false', async () => {
    await c.revoke({ account: a0, target: g0 });
    assert.equal(await c.readBack({ account: a0, target: g0 }), false);
  });

  await t.test('revoking access already absent succeeds', async () => {
    await c.revoke({ account: a0, target: g0 });
    assert.equal(await c.readBack({ account: a0, target: g0 }), false);
  });

  await t.test(
    'listAll lists exactly the assignments of the governed targets',
    { skip: noListing },
    async () => {
      await c.apply({ account: a0, target: g0 });
      await c.apply({ account: a1, target: g0 });
      await c.apply({ account: a1, target: g1 });
      await c.apply({ account: a0, target: f.ungoverned });
      const expected = [
        { account: a0, target: g0 },
        { account: a1, target: g0 },
        { account: a1, target: g1 },
      ];
      assert.deepEqual(sorted(await collectAssignments(c.listAll([g0, g1]))), sorted(expected));
      assert.deepEqual(
        sorted(await collectAssignments(c.listAll([g1]))),
        sorted([{ account: a1, target: g1 }]),
      );
      assert.deepEqual(await collectAssignments(c.listAll([])), []);
      assert.deepEqual(await collectAssignments(c.listAll([f.missingTarget])), []);
    },
  );

  await t.test(
    'listAll returns every assignment once across pages no larger than asked',
    { skip: noListing },
    async () => {
      await c.apply({ account: a0, target: g1 });
      const expected = sorted([
        { account: a0, target: g0 },
        { account: a1, target: g0 },
        { account: a0, target: g1 },
        { account: a1, target: g1 },
      ]);
      for (const pageSize of [1, 3]) {
        const pages: Assignment[][] = [];
        for await (const page of c.listAll([g0, g1], { pageSize })) pages.push(page);
        assert.ok(pages.length >= Math.ceil(4 / pageSize), `${pages.length} pages of ${pageSize}`);
        for (const page of pages) assert.ok(page.length >= 1 && page.length <= pageSize);
        assert.deepEqual(sorted(pages.flat()), expected, `page size ${pageSize}`);
      }
    },
  );

  await t.test(
    'a type that lists no assignments says so with a permanent error',
    { skip: caps.listsAssignments ? 'the type lists assignments' : false },
    async () => {
      const err = await rejection(collectAssignments(c.listAll([g0])));
      assert.ok(err instanceof TargetError, String(err));
      assert.equal(err.code, 'capability_unsupported');
      assert.equal(err.retryable, false);
    },
  );

  await t.test(
    'apply to a missing target is a permanent TargetError with a code, naming it',
    async () => {
      const err = await rejection(c.apply({ account: a0, target: f.missingTarget }));
      assert.ok(err instanceof TargetError, String(err));
      assert.equal(err.retryable, false, 'waiting does not create the target');
      assert.match(err.code, /^[a-z]+(_[a-z]+)*$/);
      assert.notEqual(err.code, 'target_error', 'a specific code');
      assert.ok(err.message.includes(c.name));
      for (const v of Object.values(f.missingTarget)) assert.ok(err.message.includes(v));
      assert.ok(err.message.includes(a0));
    },
  );

  await t.test('a target without its mapping fails with a permanent TargetError', async () => {
    const ref = { account: a0, target: {} };
    const calls: Promise<unknown>[] = [c.apply(ref), c.revoke(ref), c.readBack(ref)];
    if (caps.listsAssignments) calls.push(collectAssignments(c.listAll([{}])));
    for (const call of calls) {
      const err = await rejection(call);
      assert.ok(err instanceof TargetError, String(err));
      assert.equal(err.retryable, false);
    }
  });

  await t.test(
    'batched apply, read back and revoke settle each change alone, as the single calls would',
    async () => {
      const refs = [
        { account: a0, target: g0 },
        { account: a1, target: g1 },
        { account: a0, target: f.missingTarget },
        { account: f.missingAccount, target: g1 },
        { account: a1, target: g0 },
      ];
      const codeOf = (s: Settled<unknown>) =>
        s.ok
          ? 'ok'
          : s.error instanceof TargetError
            ? `${s.error.code}:${s.error.retryable}`
            : 'error';
      const singly = async (call: () => Promise<unknown>): Promise<Settled<unknown>> => {
        try {
          return { ok: true, value: await call() };
        } catch (error) {
          return { ok: false, error };
        }
      };
      const applied = await applyEach(c, refs);
      assert.equal(applied.length, refs.length);
      assert.deepEqual(
        applied.map(codeOf).filter((x, i) => i !== 2 && i !== 3),
        ['ok', 'ok', 'ok'],
      );
      // The failing pairs fail alone, with the error the single call gives.
      for (const i of [2, 3]) {
        assert.equal(applied[i]!.ok, false, `pair ${i} fails`);
        assert.equal(codeOf(applied[i]!), codeOf(await singly(() => c.apply(refs[i]!))));
      }
      const held = await readBackEach(c, refs);
      assert.deepEqual(
        held.map((h) => (h.ok ? h.value : 'error')),
        [true, true, false, false, true],
      );
      const revoked = await revokeEach(c, refs);
      assert.deepEqual(revoked.map(codeOf), ['ok', 'ok', 'ok', 'ok', 'ok']);
      const after = await readBackEach(c, refs);
      assert.deepEqual(
        after.map((h) => (h.ok ? h.value : 'error')),
        [false, false, false, false, false],
      );
      assert.deepEqual(await applyEach(c, []), []);
    },
  );

  await t.test('apply for a missing account fails while create_accounts is off', async () => {
    const err = await rejection(c.apply({ account: f.missingAccount, target: g0 }));
    assert.ok(err instanceof TargetError, String(err));
    assert.equal(err.retryable, false);
    assert.ok(err.message.includes(c.name) && err.message.includes(f.missingAccount));
    assert.equal(await c.readBack({ account: f.missingAccount, target: g0 }), false);
  });

  await t.test(
    'with create_accounts on, apply creates the missing account',
    { skip: f.creatingConnector ? false : 'this connector type does not create accounts' },
    async () => {
      const creating = f.creatingConnector as Connector;
      await creating.apply({ account: f.missingAccount, target: g0 });
      await creating.apply({ account: f.missingAccount, target: g0 });
      assert.equal(await c.readBack({ account: f.missingAccount, target: g0 }), true);
    },
  );

  await t.test(
    'every call to a target that never answers fails with a retryable timeout',
    { skip: noFaults },
    async () => {
      const ref = { account: a0, target: g0 };
      assert.ok(faults && faults.unresponsive.length > 0, 'at least one unresponsive target');
      for (const hung of faults.unresponsive) {
        // At once: a call waiting for a free connection is bounded by the same timeouts.
        const calls: Promise<unknown>[] = [hung.apply(ref), hung.revoke(ref), hung.readBack(ref)];
        if (caps.listsAssignments) calls.push(collectAssignments(hung.listAll([g0])));
        const errors = await Promise.all(calls.map(rejection));
        for (const err of errors) {
          assert.ok(err instanceof TargetError, String(err));
          assert.equal(err.code, 'target_timeout', err.message);
          assert.equal(err.retryable, true);
          assert.ok(err.message.includes(hung.name));
        }
      }
    },
  );

  await t.test(
    'a target refusing connections is a retryable TargetError',
    { skip: noFaults },
    async () => {
      assert.ok(faults);
      const err = await rejection(faults.refusing.readBack({ account: a0, target: g0 }));
      assert.ok(err instanceof TargetError, String(err));
      assert.equal(err.code, 'target_unreachable', err.message);
      assert.equal(err.retryable, true);
    },
  );

  await t.test('a closed connector refuses work with a TargetError', async () => {
    await c.close();
    await c.close();
    const err = await rejection(c.readBack({ account: a0, target: g0 }));
    assert.ok(err instanceof TargetError, String(err));
  });
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  assert.fail('expected the call to fail');
}
