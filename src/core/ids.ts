import { randomBytes } from 'node:crypto';

/** Short, prefixed, unguessable ids: req_…, grt_…, itm_…. */
export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(8).toString('hex')}`;
}
