import { resolve } from 'node:path';
import type { CliEnv } from './context.js';

/**
 * The embedded store's directory. Kept apart from context.ts so that finding a running `serve`
 * to forward a command to (forward.ts) does not load the store's drivers and the use cases.
 */
export function dataDir(env: CliEnv, data: string | undefined): string {
  return resolve(env.cwd, data ?? '.gatehouse');
}
