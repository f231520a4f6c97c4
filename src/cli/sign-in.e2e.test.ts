import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { configVariant } from '../testing/config-variant.js';
import { harness } from '../testing/harness.js';

test('serve refuses to start when the applied oidc: names a client secret variable that is not set', async () => {
  const parent = mkdtempSync(join(tmpdir(), 'gatehouse-signin-'));
  const config = configVariant(parent, {
    'gatehouse.yaml': (t) =>
      `${t.trimEnd()}\noidc:\n  issuer: https://login.acme.test\n  client_id: gatehouse\n  client_secret: \${GH_TEST_OIDC_SECRET_NEVER_SET}\n  identity_claim: email\n`,
  });
  const h = await harness({ config, people: false });
  // Should serve start regardless, stop it rather than hang the suite.
  const guard = setTimeout(() => process.emit('SIGTERM'), 20_000);
  try {
    const r = await h.cli(['serve', '--port', '0'], { text: true });
    assert.equal(r.code, 1, r.stdout);
    assert.match(
      r.stderr,
      /oidc\.client_secret refers to \$\{GH_TEST_OIDC_SECRET_NEVER_SET\}, which is not set/,
    );
    assert.doesNotMatch(r.stdout, /serving at/);
  } finally {
    clearTimeout(guard);
    await h.close();
    rmSync(parent, { recursive: true, force: true });
  }
});
