import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { uiTypes } from '../testing/ui-types.js';

test("the web UI's API types are generated from the current OpenAPI document (run scripts/ui-types.mjs after changing a route)", async () => {
  const committed = readFileSync(new URL('../../ui/src/schema.d.ts', import.meta.url), 'utf8');
  assert.equal(committed, await uiTypes());
});
