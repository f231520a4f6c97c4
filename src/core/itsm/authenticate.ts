import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IntegrationConfig } from '../model.js';
import type { ItsmSource } from '../ports/itsm.js';
import type { Sql } from '../sql.js';
import { authenticateToken } from '../tokens/authenticate.js';

/** How far a signed send time may be from the engine's clock before the delivery is a replay. */
export const REPLAY_WINDOW_SECONDS = 300;

export interface HookCredentials {
  /** Jira's `X-Hub-Signature`, or `X-Gatehouse-Signature` from ServiceNow: `sha256=<hex>`. */
  signature?: string | undefined;
  /** `Bearer …`, ServiceNow's alternative: an API token with scope `itsm`. */
  authorization?: string | undefined;
}

export type HookAuthentication =
  | { ok: true; actor: string; signed: boolean; token?: string }
  | { ok: false; code: string; actor?: string; token?: string };

/** `sha256=<hex HMAC-SHA256 of the raw body>` compared in constant time, whatever its length. */
export function signatureMatches(secret: string, raw: Buffer, header: string | undefined): boolean {
  const want = Buffer.from(`sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`);
  const got = Buffer.from(header ?? '');
  // Compared against itself when the lengths differ, so the time taken says nothing either way.
  return got.length === want.length ? timingSafeEqual(got, want) : !timingSafeEqual(want, want);
}

/**
 * Who sent a delivery to /hooks/{integration}. Jira signs with the webhook secret; ServiceNow
 * presents an API token with scope `itsm` belonging to the integration's identity, or signs where
 * the integration has a secret. Never says more than a code: no secret, no hint.
 */
export async function authenticateHook(
  d: { sql: Sql; now: Date; itsm: ItsmSource },
  i: IntegrationConfig,
  raw: Buffer,
  c: HookCredentials,
): Promise<HookAuthentication> {
  const bearer = /^Bearer\s+(\S+)$/i.exec(c.authorization ?? '')?.[1];
  if (i.type === 'servicenow' && bearer) {
    const a = await authenticateToken(d.sql, d.now, bearer);
    if (!a.ok)
      return {
        ok: false,
        code: a.code,
        ...(a.identity ? { actor: a.identity } : {}),
        ...(a.tokenId ? { token: a.tokenId } : {}),
      };
    const { identity, scopes, tokenId } = a.caller;
    if (!scopes.includes('itsm'))
      return { ok: false, code: 'insufficient_scope', actor: identity, token: tokenId };
    if (identity !== i.identity)
      return { ok: false, code: 'not_integration_identity', actor: identity, token: tokenId };
    return { ok: true, actor: identity, signed: false, token: tokenId };
  }
  const secret = d.itsm.webhookSecret(i);
  if (secret === undefined) return { ok: false, code: 'credentials_missing' };
  if (!c.signature) return { ok: false, code: 'signature_missing' };
  if (!signatureMatches(secret, raw, c.signature)) return { ok: false, code: 'signature_invalid' };
  return { ok: true, actor: i.identity, signed: true };
}

/**
 * A signed body is replayable for as long as the secret lives, so it must carry its send time and
 * that time must be recent; a token-authenticated one is fresh by the token's own checks.
 */
export function replayed(now: Date, sentAt: number | undefined, signed: boolean): boolean {
  if (!signed) return false;
  if (sentAt === undefined) return true;
  return Math.abs(now.getTime() - sentAt) > REPLAY_WINDOW_SECONDS * 1000;
}
