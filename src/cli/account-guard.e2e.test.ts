import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Harness, PEOPLE_HEADER, demoPeople, harness } from '../testing/harness.js';

describe('account guard at provisioning', () => {
  let h: Harness;
  before(async () => {
    h = await harness();
  });
  after(() => h.close());

  test('a synced identity whose account is a governed role gets no access, and its grant says why', async () => {
    const synced = await h.sync([
      PEOPLE_HEADER,
      ...demoPeople(),
      'wiki_edit,human,active,Role Named,support,agent,carol@acme.test,,berlin,employee',
    ]);
    assert.equal(synced.code, 0, synced.stderr);
    for (let i = 0; i < 6; i++) {
      await h.cli(['sweep']);
      h.advance(3600);
    }
    assert.ok(
      !(await h.members('wiki_read')).includes('wiki_edit'),
      'wiki_edit members must not inherit wiki_read',
    );
    const grants = (await h.cli(['grants', '--identity', 'wiki_edit'])).json.grants as {
      entitlement: string;
      state: string;
      failure: string | null;
    }[];
    const read = grants.find((g) => g.entitlement === 'wiki:read');
    assert.equal(read?.state, 'failed');
    assert.match(
      read?.failure ?? '',
      /account "wiki_edit" of wiki_edit on connector acme-db is itself the governed target of wiki:edit/,
    );
  });
});
