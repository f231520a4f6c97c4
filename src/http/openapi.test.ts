import assert from 'node:assert/strict';
import { test } from 'node:test';
import { apiFixture } from '../testing/api.js';
import { API_ROUTES } from './routes.js';
import { jsonSchema } from './schema.js';
import { registeredRoutes } from './server.js';
import { UI_PAGES } from './ui.js';

/** Served outside the JSON API (API.md's table), so not in its document. */
const UNDOCUMENTED = ['GET /healthz', 'GET /readyz', 'GET /metrics', 'GET /api/openapi.json'];
/** People's sign-in, a browser's redirects rather than JSON API calls (docs/api.md, Sign-in). */
const SIGN_IN = [
  'GET /auth/methods',
  'GET /auth/login',
  'GET /auth/callback',
  'POST /auth/logout',
  'GET /auth/demo',
  'POST /auth/demo',
];
/** The web UI's pages and its bundle (docs/ui.md): HTML and files, not API operations. */
const UI = [...UI_PAGES.map((p) => `GET ${p}`), 'GET /assets/*', 'HEAD /assets/*'];

/** ITSM systems' deliveries, signed by the system rather than called with a token (docs/api.md, ITSM). */
const HOOKS = ['POST /hooks/:integration'];

test('/api/openapi.json documents every registered API route, and every documented operation is registered, with the schemas that validate it', async () => {
  const f = await apiFixture();
  try {
    const res = await f.call('GET', '/api/openapi.json');
    assert.equal(res.statusCode, 200);
    const doc = res.json() as {
      openapi: string;
      paths: Record<string, Record<string, Record<string, unknown>>>;
    };
    assert.equal(doc.openapi, '3.1.0');
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`),
    );
    const registered = registeredRoutes(f.server).map((r) => `${r.method} ${r.url}`);
    assert.deepEqual(
      registered.filter((r) => !documented.includes(r)).sort(),
      [...UNDOCUMENTED, ...SIGN_IN, ...HOOKS, ...UI].sort(),
      'every route but the operational ones is documented',
    );
    for (const op of documented) assert.ok(registered.includes(op), `${op} is registered`);
    assert.equal(documented.length, API_ROUTES.length);

    for (const r of API_ROUTES) {
      const op = doc.paths[r.url.replace(/:(\w+)/g, '{$1}')]![r.method.toLowerCase()]!;
      assert.deepEqual(op.security, [{ bearer: [] }], `${r.url} needs a token`);
      assert.ok(String(op.description).includes(r.scopes[0]!), `${r.url} names its scopes`);
      const responses = op.responses as Record<string, unknown>;
      assert.ok(responses[String(r.status)], `${r.url} documents its answer`);
      if (r.contentType)
        assert.ok(
          (responses[String(r.status)] as { content: Record<string, unknown> }).content[
            r.contentType
          ],
          `${r.url} documents its ${r.contentType} answer`,
        );
      assert.ok(responses['400'] && responses['401'] && responses['403'] && responses['429']);
      if (r.body) {
        const body = (
          op.requestBody as { content: Record<string, { schema: Record<string, unknown> }> }
        ).content['application/json']!.schema;
        assert.deepEqual(body, jsonSchema(r.body), `${r.method} ${r.url}: the validating schema`);
        assert.equal(body.additionalProperties, false, `${r.url} refuses unknown fields`);
      }
    }
  } finally {
    await f.close();
  }
});
