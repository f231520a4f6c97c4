import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { axeViolations, blocking, launchChromium } from '../testing/browser.js';
import { configVariant } from '../testing/config-variant.js';
import { startTestProvider } from '../testing/oidc-provider.js';

const BIN = fileURLToPath(new URL('../cli/main.js', import.meta.url));
const SHOTS = fileURLToPath(new URL('../../docs/ui/', import.meta.url));
/**
 * The docs' screenshots are written only when asked (GATEHOUSE_SCREENSHOTS=1, docs/ui.md): each
 * run has new ids and times, so writing them every run would change them in every commit.
 */
const SCREENSHOTS = process.env.GATEHOUSE_SCREENSHOTS === '1';
const OIDC_SECRET = 'client-secret-for-this-test-only';

/**
 * The web UI in a real browser (Debian's Chromium through playwright-core) against a real
 * `gatehouse demo` process: the path a person takes from sign-in to evidence. One browser is
 * shared by the tests below, which run in order and build on each other.
 */
describe('the web UI served by gatehouse demo', () => {
  const root = mkdtempSync(join(tmpdir(), 'gatehouse-ui-'));
  // The demo runs on its embedded store whatever store the suite runs on: it is the demo's own.
  const { NODE_TEST_CONTEXT: _, ...inherited } = process.env;
  let demo: ChildProcess;
  let url: string;
  let printed = '';
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  /** Everything the pages wrote to the console as an error: CSP refusals, React failures. */
  const consoleErrors: string[] = [];
  let requestId = '';

  before(async () => {
    if (SCREENSHOTS) mkdirSync(SHOTS, { recursive: true });
    demo = spawn(
      process.execPath,
      [BIN, 'demo', '--data', join(root, 'demo'), '--port', '0', '--interval', '1s'],
      // The client secret the OIDC test's configuration refers to, as serve would be given it.
      { cwd: root, env: { ...inherited, DATABASE_URL: '', OIDC_CLIENT_SECRET: OIDC_SECRET } },
    );
    url = await new Promise<string>((resolve, reject) => {
      demo.stdout!.on('data', (d) => {
        printed += d;
        const m = /^web UI: (\S+)\/$/m.exec(printed);
        if (m && /demo sign-in/.test(printed)) resolve(m[1]!);
      });
      demo.on('exit', (code) => reject(new Error(`demo exited ${code}: ${printed}`)));
    });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    if (demo && demo.exitCode === null) {
      demo.kill('SIGTERM');
      await new Promise((r) => demo.once('exit', r));
    }
    rmSync(root, { recursive: true, force: true });
  });

  /** A browser profile of its own (its own cookie jar) for one person. */
  async function person(width = 1280, height = 900): Promise<Page> {
    const context = await browser.newContext({ viewport: { width, height } });
    contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    page.on('console', (m) => {
      // An API's 4xx is a handled answer (sign-in, errors beside fields); CSP refusals and
      // script errors are not.
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource'))
        consoleErrors.push(`${page.url()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => consoleErrors.push(`${page.url()}: ${e.message}`));
    return page;
  }

  async function signIn(page: Page, identity: string, path = '/'): Promise<void> {
    await page.goto(url + path);
    await page.getByRole('heading', { name: 'Sign in to Gatehouse' }).waitFor();
    await page.getByRole('combobox', { name: 'Sign in as' }).fill(identity);
    await page.getByRole('option', { name: new RegExp(identity.replace('.', '\\.')) }).click();
    await page.getByRole('button', { name: 'Sign in (demo)' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
  }

  async function accessible(page: Page, name: string): Promise<void> {
    const serious = blocking(await axeViolations(page));
    assert.deepEqual(
      serious.map(
        (v) =>
          `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`,
      ),
      [],
      `${name}: no serious or critical accessibility violation`,
    );
    if (SCREENSHOTS) await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  }

  test('demo prints where the UI is and how to sign in on it', () => {
    assert.match(printed, /^web UI: http:\/\/127\.0\.0\.1:\d+\/$/m);
    assert.match(
      printed,
      /demo sign-in \(this demo store only\): open http:\S+\/ and choose "Sign in as"/,
    );
  });

  test('a requester signs in with the labelled demo sign-in, previews the decision, sees a bad duration named beside its field, and submits', async () => {
    const page = await person();
    await page.goto(url + '/');
    await page.getByRole('heading', { name: 'Sign in to Gatehouse' }).waitFor();
    await page.getByText('Demo sign-in', { exact: true }).waitFor();
    await page.getByText(/A production store never offers it/).waitFor();
    await accessible(page, 'sign-in');

    await signIn(page, 'alice@acme.test');
    await page.getByRole('heading', { name: 'Welcome, alice@acme.test' }).waitFor();
    await page.getByRole('link', { name: 'Request access' }).click();
    await page.getByRole('heading', { name: 'Request access', level: 2 }).waitFor();

    await page.getByRole('combobox', { name: 'Entitlement' }).fill('analytics:wri');
    await page.getByRole('option', { name: 'analytics:writer' }).click();
    const facts = page.getByLabel('About this entitlement');
    await facts.getByText('medium risk').waitFor();
    await facts.getByText(/default 14d, at most 30d/).waitFor();

    // The preview is the explain path: no justification yet is a rejection, shown before submitting.
    const preview = page.getByTestId('preview');
    await preview.getByText(/justification required/i).waitFor();
    await page
      .getByRole('textbox', { name: 'Justification' })
      .fill('quarterly revenue model for the board');
    await preview.getByText('needs approval', { exact: true }).waitFor();
    await preview.getByText(/manager: carol@acme\.test \(pending\)/).waitFor();

    await page.getByRole('textbox', { name: 'Duration' }).fill('3 weeks');
    const duration = page.getByRole('textbox', { name: 'Duration' });
    const described = await duration.getAttribute('aria-describedby');
    assert.ok(described, 'the duration field is described by its error');
    await page
      .locator('.mantine-TextInput-error')
      .filter({ hasText: /duration/ })
      .waitFor();
    await duration.fill('14d');
    await preview.getByText('needs approval', { exact: true }).waitFor();
    await accessible(page, 'request-access');

    await page.getByRole('button', { name: 'Submit request' }).click();
    await page.getByRole('heading', { name: 'Request sent' }).waitFor();
    const sent = await page.getByText(/^req_[0-9a-f]+$/).textContent();
    requestId = sent!.trim();
    await page.getByText('pending approval', { exact: true }).first().waitFor();
  });

  test('the manager sees it in her inbox with risk, role fit, seats, SoD and justification, is told a rejection needs a comment, and approves', async () => {
    assert.ok(requestId, 'the request of the test before');
    const page = await person();
    await signIn(page, 'carol@acme.test', '/inbox');
    await page.getByRole('heading', { name: 'Approvals waiting on you' }).waitFor();
    const card = page.getByRole('article', { name: 'analytics:writer for alice@acme.test' });
    await card.getByText('quarterly revenue model for the board').waitFor();
    await card
      .getByText(/medium risk/)
      .first()
      .waitFor();
    await card.getByText(/Role fit \d+%/).waitFor();
    // The demo's waiting SoD-exception request shows its conflict in the same inbox.
    await page
      .getByRole('article', { name: 'prod:deploy for alice@acme.test' })
      .getByText('SoD conflict')
      .waitFor();
    await accessible(page, 'inbox');

    await card.getByRole('button', { name: 'Reject' }).click();
    await card.locator('.mantine-Textarea-error').waitFor();
    await card.getByRole('textbox', { name: 'Comment' }).fill('fine for the quarter');
    await card.getByRole('button', { name: 'Approve' }).click();
    await card.getByText(new RegExp(`You approved ${requestId}`)).waitFor();
  });

  test('the requester sees the grant provisioned and verified in Who has what', async () => {
    const page = await person();
    await signIn(page, 'alice@acme.test', '/access');
    await page.getByRole('textbox', { name: 'Entitlement' }).fill('analytics:writer');
    const row = page.locator('tr[data-state="active"]').filter({ hasText: 'analytics:writer' });
    // The demo's worker provisions within a sweep or two (--interval 1s); the page is reread.
    for (let i = 0; i < 30 && !(await row.count()); i++) {
      await page.waitForTimeout(500);
      await page.reload();
      await page.getByRole('textbox', { name: 'Entitlement' }).fill('analytics:writer');
      await page.locator('tbody').first().waitFor();
    }
    await row.first().waitFor();
    assert.equal(await row.first().getByText('not verified').count(), 0, 'verified in the target');
    await page.getByRole('heading', { name: 'Non-human identities and their owners' }).waitFor();
    await page.getByRole('cell', { name: 'svc:ci-deployer' }).waitFor();
    await accessible(page, 'who-has-what');
  });

  test('governance follows the audit trace of the request to its grant, with the chain verified', async () => {
    const page = await person();
    await signIn(page, 'gina@acme.test', `/evidence?id=${requestId}`);
    await page.getByTestId('chain-status').filter({ hasText: 'verified' }).waitFor();
    const trail = page.getByRole('region', { name: `Trail of ${requestId}` });
    await trail.getByText('request.decided').first().waitFor();
    await trail
      .getByText(/approv/)
      .first()
      .waitFor();
    await accessible(page, 'evidence');
    const grantLink = trail.getByRole('link', { name: /^grt_/ }).first();
    const grant = (await grantLink.textContent())!;
    await grantLink.click();
    await page
      .getByRole('region', { name: `Trail of ${grant}` })
      .getByText('grant.activated')
      .first()
      .waitFor();
  });

  test('the governance dashboard charts the report figures', async () => {
    const page = await person();
    await signIn(page, 'gina@acme.test', '/dashboard');
    await page.getByRole('heading', { name: 'Governance dashboard' }).waitFor();
    await page.getByRole('img', { name: /Grants by state \(grants\): .*active: \d+/ }).waitFor();
    await page.getByRole('img', { name: /Revocation latency against the SLA/ }).waitFor();
    await page.getByText('Standing privileged access').waitFor();
    await accessible(page, 'dashboard');
  });

  test("on a phone's width the pages fit and the navigation opens from its button", async () => {
    const page = await person(390, 844);
    await signIn(page, 'carol@acme.test', '/request');
    await page.getByRole('heading', { name: 'Request access', level: 2 }).waitFor();
    const overflow = await page.evaluate(
      'document.documentElement.scrollWidth - window.innerWidth',
    );
    assert.ok((overflow as number) <= 0, `no sideways scrolling (${overflow}px too wide)`);
    await page.getByRole('button', { name: 'Toggle navigation' }).click();
    await page.getByRole('link', { name: 'Approvals' }).click();
    await page.getByRole('heading', { name: 'Approvals waiting on you' }).waitFor();
    if (SCREENSHOTS)
      await page.screenshot({ path: join(SHOTS, 'phone-inbox.png'), fullPage: false });
  });

  test('the pages stored nothing in the browser but the session cookie, and logged no error', async () => {
    for (const context of contexts) {
      const state = await context.storageState();
      for (const c of state.cookies) assert.equal(c.name, 'gatehouse_session');
      assert.ok(state.cookies.every((c) => c.httpOnly));
      for (const origin of state.origins) assert.deepEqual(origin.localStorage, []);
    }
    assert.ok(contexts.some((c) => c.pages().length > 0));
    assert.deepEqual(consoleErrors, []);
  });
  test('with oidc: applied, a person clicks "Sign in with your organisation", signs in at a real provider in the browser, and lands signed in on the page they started from', async () => {
    const callback = `${url}/auth/callback`;
    const provider = await startTestProvider({
      clientId: 'gatehouse',
      clientSecret: OIDC_SECRET,
      redirectUri: callback,
    });
    // A profile of its own, outside the storage check above: the provider's cookies are its own.
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const config = configVariant(root, {
        'gatehouse.yaml': (text) =>
          `${text}\noidc:\n  issuer: ${provider.issuer}\n  client_id: gatehouse\n` +
          `  client_secret: \${OIDC_CLIENT_SECRET}\n  identity_claim: email\n  redirect_uri: ${callback}\n`,
      });
      // Applied through the running demo's command channel, as an operator would.
      await promisify(execFile)(
        process.execPath,
        [BIN, 'apply', config, '--data', join(root, 'demo')],
        {
          cwd: root,
          env: { ...inherited, DATABASE_URL: '', OIDC_CLIENT_SECRET: OIDC_SECRET },
        },
      );
      const page = await context.newPage();
      page.setDefaultTimeout(15_000);
      await page.goto(url + '/inbox');
      await page.getByRole('heading', { name: 'Sign in to Gatehouse' }).waitFor();
      await page.getByRole('link', { name: 'Sign in with your organisation' }).click();
      // oidc-provider's own login and consent pages, on the provider's origin.
      await page.waitForURL((u) => u.href.startsWith(provider.issuer));
      await page.locator('input[name="login"]').fill('carol@acme.test');
      await page.locator('input[name="password"]').fill('any password');
      // Sign-in, then consent when the provider asks for it: each form leaves the page it is on.
      for (let step = 0; step < 3 && page.url().startsWith(provider.issuer); step++) {
        const at = page.url();
        await page.locator('button[type="submit"]').click();
        await page.waitForURL((u) => u.href !== at);
      }
      await page.waitForURL(`${url}/inbox`);
      await page.getByRole('heading', { name: 'Approvals waiting on you' }).waitFor();
      await page.getByRole('button', { name: 'Sign out' }).waitFor();
      const session = (await context.cookies(url)).find((c) => c.name === 'gatehouse_session');
      assert.ok(session?.httpOnly, 'signed in with an HttpOnly session cookie');
    } finally {
      await context.close();
      await provider.close();
    }
  });
});
