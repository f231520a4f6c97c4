import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Assignment, Connector } from '../core/ports/connector.js';
import { TargetError } from '../core/errors.js';

type Target = Record<string, string>;

/** What a connector type's test sets up in a throwaway target for the shared contract. */
export interface ContractFixture {
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
}

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
  const [g0, g1] = f.governed;
  const [a0, a1] = f.accounts;

  await t.test('readBack reports false for access never granted', async () => {
    assert.equal(await c.readBack({ account: a0, target: g0 }), false);
  });

  await t.test('apply grants access that readBack then reports', async () => {
    await c.apply({ account: a0, target: g0 });
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

  await t.test('listAll lists exactly the assignments of the governed targets', async () => {
    await c.apply({ account: a0, target: g0 });
    await c.apply({ account: a1, target: g0 });
    await c.apply({ account: a1, target: g1 });
    await c.apply({ account: a0, target: f.ungoverned });
    const expected = [
      { account: a0, target: g0 },
      { account: a1, target: g0 },
      { account: a1, target: g1 },
    ];
    assert.deepEqual(sorted(await c.listAll([g0, g1])), sorted(expected));
    assert.deepEqual(sorted(await c.listAll([g1])), sorted([{ account: a1, target: g1 }]));
    assert.deepEqual(await c.listAll([]), []);
  });

  await t.test('apply to a missing target fails with a TargetError naming it', async () => {
    const err = await rejection(c.apply({ account: a0, target: f.missingTarget }));
    assert.ok(err instanceof TargetError, String(err));
    assert.ok(err.message.includes(c.name));
    for (const v of Object.values(f.missingTarget)) assert.ok(err.message.includes(v));
    assert.ok(err.message.includes(a0));
  });

  await t.test('a target without its mapping fails with a TargetError', async () => {
    const ref = { account: a0, target: {} };
    for (const call of [c.apply(ref), c.revoke(ref), c.readBack(ref), c.listAll([{}])]) {
      const err = await rejection(call);
      assert.ok(err instanceof TargetError, String(err));
    }
  });

  await t.test('apply for a missing account fails while create_accounts is off', async () => {
    const err = await rejection(c.apply({ account: f.missingAccount, target: g0 }));
    assert.ok(err instanceof TargetError, String(err));
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
