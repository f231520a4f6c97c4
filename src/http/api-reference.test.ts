import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import prettier from 'prettier';
import { API_ROUTES } from './routes.js';
import { openApiDocument, renderApiReference, typeOf } from './api-reference.js';

const FILE = fileURLToPath(new URL('../../docs/api-reference.md', import.meta.url));

test('docs/api-reference.md is what `npm run docs:api` generates from the routes: run it after changing a route or schema', async () => {
  const generated = await prettier.format(renderApiReference(await openApiDocument()), {
    ...(await prettier.resolveConfig(FILE)),
    filepath: FILE,
  });
  const committed = readFileSync(FILE, 'utf8');
  assert.ok(
    committed === generated,
    'docs/api-reference.md is out of date with the routes: run `npm run docs:api` and commit the result',
  );
});

test('the reference names every API route with its scopes, and each body field with whether it is required', async () => {
  const md = renderApiReference(await openApiDocument());
  for (const r of API_ROUTES) {
    const heading = `### ${r.method} ${r.url.replace(/:(\w+)/g, '{$1}')}`;
    assert.ok(md.includes(`${heading}\n`), `${heading} is in the reference`);
    const section = md.slice(md.indexOf(`${heading}\n`)).split('\n### ')[0]!;
    assert.ok(section.includes(`Scopes: ${r.scopes.join(' or ')}.`), `${heading} names its scopes`);
    assert.ok(section.includes(`Answer ${r.status}`), `${heading} gives its answer`);
  }
  const submit = md.slice(md.indexOf('### POST /api/v1/requests\n')).split('\n### ')[0]!;
  assert.match(submit, /\| `entitlement` \| string \(1–200 chars\) \| yes \|/);
  assert.match(submit, /\| `ticket` \| string \(at most 200 chars\) or null \| no \|/);
});

test('a schema reads as one short phrase: enums as their values, arrays by their items, bounds in words', () => {
  assert.equal(typeOf({ enum: ['done', 'failed'] }), '"done" \\| "failed"');
  assert.equal(
    typeOf({ type: 'array', items: { type: 'string' }, minItems: 1 }),
    'array of string (at least 1 items)',
  );
  assert.equal(typeOf({ type: ['string', 'null'] }), 'string or null');
  assert.equal(typeOf({ type: 'integer', minimum: 1, maximum: 1000 }), 'integer (1–1000)');
});
