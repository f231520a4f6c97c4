import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Catalog } from '../catalog/catalog.js';
import { DEFAULT_SETTINGS, type App } from '../model.js';
import { type ItemParties, resolveReviewers } from './reviewers.js';

const catalog = (
  owner: string,
  governance: string[],
): Pick<Catalog, 'apps' | 'groups' | 'settings'> => ({
  apps: new Map([['erp', { id: 'erp', owner } as App]]),
  groups: new Map([
    ['governance', governance],
    ['security', ['sam', 'sue']],
  ]),
  settings: DEFAULT_SETTINGS,
});
const everyone = new Set(['carol', 'erin', 'gina', 'sam', 'sue', 'alice']);
const svc: ItemParties = { holder: 'svc:ci', manager: null, owner: 'alice', app: 'erp' };

test("a non-human identity's owner reviews its access by the owner rule; a person without an owner goes to the app owner", () => {
  assert.deepEqual(resolveReviewers('owner', svc, catalog('erin', ['gina']), everyone), {
    reviewers: ['alice'],
    routed: null,
  });
  const bob = { holder: 'bob', manager: 'carol', owner: null, app: 'erp' };
  const r = resolveReviewers('owner', bob, catalog('erin', ['gina']), everyone);
  assert.deepEqual(r.reviewers, ['erin']);
  assert.match(r.routed!, /no owner for bob: routed to the app owner/);
});

test('an inactive reviewer is passed over for the app owner, then the governance group, and an item nobody may review keeps no reviewer and says it takes the default', () => {
  const bob = { holder: 'bob', manager: 'dave', owner: null, app: 'erp' };
  const inactive = resolveReviewers('manager', bob, catalog('erin', ['gina']), everyone);
  assert.deepEqual(inactive.reviewers, ['erin']);
  assert.match(inactive.routed!, /manager \(dave\) is not active/);
  const ownApp = resolveReviewers(
    'app_owner',
    { ...bob, holder: 'erin' },
    catalog('erin', ['gina']),
    everyone,
  );
  assert.deepEqual(ownApp.reviewers, ['gina']);
  assert.match(ownApp.routed!, /is the holder .*routed to group governance/);
  const nobody = resolveReviewers(
    'app_owner',
    { ...bob, holder: 'erin' },
    catalog('erin', ['erin']),
    everyone,
  );
  assert.deepEqual(nobody.reviewers, []);
  assert.match(nobody.routed!, /takes the campaign's default/);
  const group = resolveReviewers(
    'group:security',
    { ...bob, holder: 'sam' },
    catalog('erin', ['gina']),
    everyone,
  );
  assert.deepEqual(group, { reviewers: ['sue'], routed: null });
});
