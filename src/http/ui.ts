import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { errorBody } from './errors.js';

/** Where `npm run build` puts the web UI (vite, ui/vite.config.ts): dist/ui beside dist/http. */
export const UI_DIR = fileURLToPath(new URL('../ui/', import.meta.url));

/** The UI's pages: each answers the same index.html, and the page picks its view from the path. */
export const UI_PAGES = ['/', '/request', '/inbox', '/access', '/evidence', '/dashboard'] as const;

/**
 * The API's policy forbids everything; the UI loads its own bundle and calls its own origin only.
 * Inline styles are allowed because the component library sets CSS variables in style attributes;
 * no inline script is.
 */
export const UI_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

/**
 * The web UI at `/` (docs/ui.md): static files from the build, on the same server as the API it
 * calls, so the session cookie and the CSRF header work unchanged and there is no second origin.
 */
export async function registerUi(server: FastifyInstance, dir: string = UI_DIR): Promise<void> {
  const built = existsSync(join(dir, 'index.html'));
  await server.register(async (ui) => {
    ui.addHook('onSend', async (_req, reply, payload) => {
      reply.header('content-security-policy', UI_CSP);
      return payload;
    });
    await ui.register(fastifyStatic, {
      root: join(dir, 'assets'),
      prefix: '/assets/',
      index: false,
      // File names carry a content hash: a changed file is a new name, so keep them for a year.
      immutable: true,
      maxAge: '365d',
      schemaHide: true,
    });
    for (const page of UI_PAGES)
      ui.get(page, { schema: { hide: true } }, async (req, reply) => {
        if (!built)
          return reply
            .code(503)
            .send(
              errorBody(req, 'ui_not_built', 'the web UI is not built here: run `npm run build`'),
            );
        return reply.type('text/html; charset=utf-8').sendFile('index.html', dir, {
          // The page names the current bundle: never kept, so a new build is seen at once.
          cacheControl: false,
        });
      });
  });
}
