import { createHash, randomBytes } from 'node:crypto';
import { appendAudit } from '../audit/chain.js';
import { authorizeCredentialIssue } from '../authz.js';
import type { Catalog } from '../catalog/catalog.js';
import { ConflictError, InputError, TargetError } from '../errors.js';
import { requireGrant } from '../grants/grants.js';
import { newId } from '../ids.js';
import type { Via } from '../model.js';
import type { ConnectorSource } from '../ports/connector.js';
import type { Sql } from '../sql.js';
import { type CredentialView, credentialView } from './view.js';

export interface IssueCredentialDeps {
  sql: Sql;
  catalog: Catalog;
  connectors: ConnectorSource;
  now: () => Date;
}

/** The new credential's record, and its secret: returned this once, stored nowhere. */
export interface IssuedCredential {
  credential: CredentialView;
  secret: string;
}

/**
 * An `issuing` row older than this was left by a process that died between asking the target and
 * recording the answer (the target's own statement timeout is at most 1 h): it no longer blocks.
 */
const ABANDONED_AFTER_MS = 3600_000;

/** 24 random bytes, URL-safe: 192 bits, so a fast hash of it is a safe fingerprint. */
const newSecret = () => randomBytes(24).toString('base64url');
export const fingerprintOf = (secret: string) =>
  createHash('sha256').update(secret).digest('hex').slice(0, 16);

/**
 * Issues a credential for the account behind an active grant of a non-human identity, where the
 * entitlement configures one (`credential: { rotation }`) and its connector can issue it (ADR
 * 0025). Only the identity's owner receives it. Three steps: record the attempt (`issuing`, with
 * its audit event) under the grant's lock; set it in the target; record the outcome (`issued`, the
 * grant's earlier credentials `superseded`; or `failed` with the error) with its audit event. The
 * secret is in no row, no event and no message; the fingerprint tells credentials apart.
 */
export async function issueCredential(
  d: IssueCredentialDeps,
  input: { grantId: string; actor: string; via: Via },
): Promise<IssuedCredential> {
  const secret = newSecret();
  const fingerprint = fingerprintOf(secret);
  const id = newId('crd');
  const requestedAt = d.now();
  const plan = await d.sql.transaction(async (tx) => {
    const g = await requireGrant(tx, input.grantId, true);
    const [holder] = await tx.query<{ kind: string; owner: string; status: string }>(
      'SELECT kind, owner, status FROM identities WHERE id = $1',
      [g.identity],
    );
    const ent = d.catalog.entitlements.get(g.entitlement);
    const app = d.catalog.apps.get(g.app);
    const connector = app ? d.catalog.connectors.get(app.connector) : undefined;
    if (!ent?.credentialRotation || !app || !connector)
      throw new InputError(
        `entitlement ${g.entitlement} issues no credentials (set credential.rotation on it)`,
        { code: 'credential_not_configured', field: 'grant' },
      );
    if (holder?.kind === 'human')
      throw new InputError(
        `${g.identity} is a person: credentials are issued for non-human identities only`,
        { code: 'credential_human', field: 'grant' },
      );
    authorizeCredentialIssue(input.actor, g.id, { holderOwner: holder?.owner || null });
    if (g.state !== 'active' || holder?.status !== 'active')
      throw new InputError(
        `grant ${g.id} is ${g.state}${holder?.status !== 'active' ? ` and its holder ${holder?.status ?? 'unknown'}` : ''}: a credential is issued for active access only`,
        { code: 'credential_grant_not_active', field: 'grant' },
      );
    const [busy] = await tx.query<{ id: string; requested_at: Date }>(
      `SELECT id, requested_at FROM credentials WHERE grant_id = $1 AND state = 'issuing'`,
      [g.id],
    );
    if (busy) {
      if (requestedAt.getTime() - busy.requested_at.getTime() < ABANDONED_AFTER_MS)
        throw new ConflictError(`a credential for ${g.id} is being issued (${busy.id})`, {
          code: 'credential_in_flight',
          field: 'grant',
        });
      await tx.query(
        `UPDATE credentials SET state = 'failed', error = 'abandoned while issuing' WHERE id = $1`,
        [busy.id],
      );
    }
    const rotateBy = new Date(requestedAt.getTime() + ent.credentialRotation * 1000);
    const expires = g.expires_at ? new Date(g.expires_at) : null;
    const validUntil = expires && expires < rotateBy ? expires : rotateBy;
    const settings = connector.settings;
    const attr = typeof settings.account_attribute === 'string' ? settings.account_attribute : '';
    const [row] = await tx.query<{ account: string }>(
      `SELECT COALESCE(NULLIF(attributes->>$2, ''), id) AS account FROM identities WHERE id = $1`,
      [g.identity, attr],
    );
    const account = attr ? (row?.account ?? g.identity) : g.identity;
    await tx.query(
      `INSERT INTO credentials (id, grant_id, identity, connector, account, state, fingerprint,
                                requested_by, requested_at, valid_until, rotate_by)
       VALUES ($1, $2, $3, $4, $5, 'issuing', $6, $7, $8, $9, $10)`,
      [
        id,
        g.id,
        g.identity,
        connector.name,
        account,
        fingerprint,
        input.actor,
        requestedAt,
        validUntil,
        rotateBy,
      ],
    );
    await appendAudit(tx, requestedAt, {
      actor: input.actor,
      action: 'credential.requested',
      subject: id,
      refs: [g.id],
      details: {
        grant: g.id,
        identity: g.identity,
        connector: connector.name,
        account,
        fingerprint,
        via: input.via,
      },
    });
    return { grant: g.id, connector: connector.name, account, target: ent.target, validUntil };
  });

  let failure: unknown;
  try {
    const c = await d.connectors.get(plan.connector);
    if (!c.issueCredential || c.capabilities?.issuesCredentials === false)
      throw new TargetError(`connector ${plan.connector}: its type cannot issue credentials`, {
        code: 'capability_unsupported',
        retryable: false,
      });
    await c.issueCredential(
      { account: plan.account, target: plan.target },
      { secret, validUntil: plan.validUntil },
    );
  } catch (e) {
    failure = e;
  }

  const at = d.now();
  await d.sql.transaction(async (tx) => {
    if (failure !== undefined) {
      const error = (failure instanceof Error ? failure.message : String(failure))
        .split(secret)
        .join('***');
      await tx.query(`UPDATE credentials SET state = 'failed', error = $2 WHERE id = $1`, [
        id,
        error,
      ]);
      await appendAudit(tx, at, {
        actor: input.actor,
        action: 'credential.failed',
        subject: id,
        refs: [plan.grant],
        details: {
          grant: plan.grant,
          connector: plan.connector,
          account: plan.account,
          fingerprint,
          error,
        },
      });
      return;
    }
    await tx.query(
      `UPDATE credentials SET state = 'superseded' WHERE grant_id = $1 AND state = 'issued'`,
      [plan.grant],
    );
    await tx.query(`UPDATE credentials SET state = 'issued', issued_at = $2 WHERE id = $1`, [
      id,
      at,
    ]);
    await appendAudit(tx, at, {
      actor: input.actor,
      action: 'credential.issued',
      subject: id,
      refs: [plan.grant],
      details: {
        grant: plan.grant,
        connector: plan.connector,
        account: plan.account,
        fingerprint,
        valid_until: plan.validUntil.toISOString(),
        via: input.via,
      },
    });
  });
  if (failure !== undefined) throw failure;
  return { credential: await credentialView(d.sql, id), secret };
}
