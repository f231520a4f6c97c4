import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { type Gatehouse, gatehouse } from '../app/gatehouse.js';
import { loadConfigDir } from '../config/load.js';
import { loadSnapshot } from '../config/snapshot.js';
import { connectorSource } from '../connectors/registry.js';
import { CatalogCache } from '../core/catalog/catalog.js';
import { fixedClock } from '../core/clock.js';
import { DEMO_PEOPLE } from '../demo/seed.js';
import type { SignInOptions } from '../http/oidc.js';
import { type ServerOptions, buildServer } from '../http/server.js';
import { migrationFiles } from '../store/migrate.js';
import { type TestStore, testStore } from '../store/test-store.js';
import { configVariant } from './config-variant.js';

export interface ApiFixture {
  store: TestStore;
  app: Gatehouse;
  server: FastifyInstance;
  clock: ReturnType<typeof fixedClock>;
  /** A token for `identity` with these scopes (comma-separated), made through the use case. */
  token(identity: string, scopes: string, expiresInSeconds?: number): Promise<string>;
  /** One call through the real Fastify instance, with a bearer token when one is given. */
  call(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH',
    url: string,
    token?: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<LightMyRequestResponse>;
  /** Causes of 500s the server reported (the answers carry none). */
  internalErrors: unknown[];
  close(): Promise<void>;
}

/**
 * The API on a fresh store (PGlite, or the server in DATABASE_URL) with the Acme demo organisation
 * applied, its people synced, and `approval.authenticated_only` on: approvals come only through
 * the API here, as a production store would have it.
 */
export async function apiFixture(
  opts: Pick<ServerOptions, 'bodyLimit' | 'rateLimits' | 'log' | 'metricsAllow' | 'cliChannel'> & {
    /** YAML appended to gatehouse.yaml (`oidc:`, `sessions:`). */
    settings?: string;
    signIn?: SignInOptions;
  } = {},
): Promise<ApiFixture> {
  const store = await testStore();
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-api-'));
  const clock = fixedClock('2026-05-01T09:00:00Z');
  const app = gatehouse({
    sql: store.sql,
    clock,
    catalog: new CatalogCache(),
    connectors: connectorSource([], { env: {}, dataDir: '/nonexistent' }),
    workerId: 'api-test',
  });
  const cfg = configVariant(dir, {
    'gatehouse.yaml': (t) =>
      t.replace('  timeout: 72h', '  timeout: 72h\n  authenticated_only: true') +
      (opts.settings ?? ''),
  });
  const { config } = await loadConfigDir(cfg);
  await app.apply(config, 'test', false);
  await app.sync(await loadSnapshot(DEMO_PEOPLE), 'test', ['human']);
  const internalErrors: unknown[] = [];
  const server = await buildServer(app, {
    schemaVersion: migrationFiles().at(-1)!.version,
    onInternalError: (_id, e) => internalErrors.push(e),
    ...(opts.bodyLimit ? { bodyLimit: opts.bodyLimit } : {}),
    ...(opts.signIn ? { signIn: opts.signIn } : {}),
    ...(opts.log ? { log: opts.log } : {}),
    ...(opts.metricsAllow ? { metricsAllow: opts.metricsAllow } : {}),
    ...(opts.cliChannel ? { cliChannel: opts.cliChannel } : {}),
    // Tests make hundreds of calls from one address: limits only where a test sets them.
    rateLimits: {
      apiPerToken: 1e6,
      apiPerAddress: 1e6,
      authPerAddress: 1e6,
      hooksPerAddress: 1e6,
      ...opts.rateLimits,
    },
  });
  return {
    store,
    app,
    server,
    clock,
    internalErrors,
    async token(identity, scopes, expiresInSeconds) {
      const t = await app.createToken({
        identity,
        scopes,
        expiresInSeconds,
        actor: 'test',
        via: 'cli',
      });
      return t.token;
    },
    call(method, url, token, body, headers = {}) {
      return server.inject({
        method,
        url,
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
        ...(body === undefined ? {} : { payload: body as string | object }),
      });
    },
    async close() {
      await server.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
