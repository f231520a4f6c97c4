import {
  type KeyObject,
  createHash,
  createPrivateKey,
  createPublicKey,
  sign,
  verify,
} from 'node:crypto';
import { ConflictError, InputError } from '../errors.js';
import type { Sql } from '../sql.js';
import { one } from '../sql.js';
import { canonical } from './chain.js';
import { type AuditHead, type VerifyResult, verifyAudit } from './verify.js';

export const CHECKPOINT_FORMAT = 'gatehouse-audit-checkpoint/1';

/**
 * A signed statement "the chain ended at this event with this hash at this time", meant to be kept
 * where the store's owner cannot reach (ADR 0009). The public key travels with it so the file is
 * self-describing; it is trusted only if it matches a key the verifier was given separately.
 */
export interface Checkpoint {
  format: typeof CHECKPOINT_FORMAT;
  seq: number;
  hash: string;
  at: string;
  /** base64 of the DER SubjectPublicKeyInfo. */
  public_key: string;
  /** sha256:hex of that DER: what an operator compares by eye. */
  key_fingerprint: string;
  /** base64 Ed25519 signature over the canonical JSON of every other field but key_fingerprint. */
  signature: string;
}

export interface CheckpointSigner {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export type CheckpointVerifyResult = VerifyResult & {
  checkpoint: { seq: number; hash: string; at: string; key_fingerprint: string };
};

/** The signing key from PEM text; field names where it came from, for the message. */
export function checkpointSigner(pem: string, field: string): CheckpointSigner {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch {
    throw new InputError(`${field} is not a PEM private key`, {
      code: 'checkpoint_key_invalid',
      field,
    });
  }
  requireEd25519(privateKey, field);
  return { privateKey, publicKey: createPublicKey(privateKey) };
}

/** The key a checkpoint must be signed with, from a PEM public (or private) key. */
export function checkpointTrustedKey(pem: string, field: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch {
    throw new InputError(`${field} is not a PEM public key`, {
      code: 'checkpoint_key_invalid',
      field,
    });
  }
  requireEd25519(key, field);
  return key;
}

function requireEd25519(key: KeyObject, field: string): void {
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new InputError(
      `${field} is ${key.asymmetricKeyType ?? 'an unknown'} key; checkpoints are signed with Ed25519`,
      { code: 'checkpoint_key_invalid', field },
    );
  }
}

export function keyFingerprint(key: KeyObject): string {
  const der = key.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(der).digest('hex')}`;
}

const signedBody = (c: Omit<Checkpoint, 'signature' | 'key_fingerprint'>) =>
  Buffer.from(
    canonical({ format: c.format, seq: c.seq, hash: c.hash, at: c.at, public_key: c.public_key }),
  );

/**
 * Verifies the whole chain first and signs the head it vouches for, so a checkpoint never anchors a
 * log that is already broken.
 */
export async function takeCheckpoint(
  sql: Sql,
  at: Date,
  signer: CheckpointSigner,
): Promise<Checkpoint> {
  const result = await verifyAudit(sql);
  if (!result.ok) {
    throw new ConflictError(
      `the audit chain is broken at event ${result.first_bad} (${result.reason}); a checkpoint would anchor a tampered log`,
      { code: 'audit_chain_broken' },
    );
  }
  return signCheckpoint(result.head, at, signer);
}

export function signCheckpoint(head: AuditHead, at: Date, signer: CheckpointSigner): Checkpoint {
  const body = {
    format: CHECKPOINT_FORMAT,
    seq: head.seq,
    hash: head.hash,
    at: at.toISOString(),
    public_key: signer.publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
  } as const;
  return {
    ...body,
    key_fingerprint: keyFingerprint(signer.publicKey),
    signature: sign(null, signedBody(body), signer.privateKey).toString('base64'),
  };
}

/**
 * Reads checkpoint text and checks it was signed by the trusted key. source names the file in
 * messages.
 */
export function readCheckpoint(text: string, source: string, trusted: KeyObject): Checkpoint {
  const invalid = (why: string) =>
    new InputError(`checkpoint ${source}: ${why}`, { code: 'checkpoint_invalid', field: source });
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw invalid('not JSON');
  }
  const c = raw as Partial<Record<keyof Checkpoint, unknown>>;
  if (typeof raw !== 'object' || raw === null || c.format !== CHECKPOINT_FORMAT)
    throw invalid(`not a ${CHECKPOINT_FORMAT} file`);
  if (typeof c.seq !== 'number' || !Number.isSafeInteger(c.seq) || c.seq < 0)
    throw invalid('seq is not a whole number');
  for (const f of ['hash', 'at', 'public_key', 'key_fingerprint', 'signature'] as const) {
    if (typeof c[f] !== 'string' || c[f] === '') throw invalid(`${f} is missing`);
  }
  const cp = c as Checkpoint;
  if (Number.isNaN(Date.parse(cp.at))) throw invalid('at is not a time');
  let key: KeyObject;
  try {
    key = createPublicKey({
      key: Buffer.from(cp.public_key, 'base64'),
      format: 'der',
      type: 'spki',
    });
  } catch {
    throw invalid('public_key is not a public key');
  }
  const fingerprint = keyFingerprint(key);
  if (fingerprint !== keyFingerprint(trusted)) {
    throw new InputError(
      `checkpoint ${source} was signed by key ${fingerprint}, not the trusted key ${keyFingerprint(trusted)}`,
      { code: 'checkpoint_key_mismatch', field: source },
    );
  }
  if (!verify(null, signedBody(cp), trusted, Buffer.from(cp.signature, 'base64'))) {
    throw new InputError(`checkpoint ${source}: the signature does not match its contents`, {
      code: 'checkpoint_bad_signature',
      field: source,
    });
  }
  return cp;
}

/**
 * The chain must verify from genesis to head and still hold the checkpoint's event with the same
 * hash. A consistent cut of the tail, a full rehash or a wipe passes the first test alone; none
 * can keep an event whose hash was signed before.
 */
export async function verifyWithCheckpoint(
  sql: Sql,
  cp: Checkpoint,
): Promise<CheckpointVerifyResult> {
  const checkpoint = { seq: cp.seq, hash: cp.hash, at: cp.at, key_fingerprint: cp.key_fingerprint };
  const result = await verifyAudit(sql);
  if (!result.ok) return { ...result, checkpoint };
  const fail = (first_bad: number, reason: string): CheckpointVerifyResult => ({
    ok: false,
    events: result.events,
    first_bad,
    reason,
    head: result.head,
    checkpoint,
  });
  const taken = `the checkpoint of ${cp.at}`;
  if (cp.seq > result.head.seq) {
    const log = result.head.seq === 0 ? 'the log is empty' : `the log ends at ${result.head.seq}`;
    return fail(result.head.seq + 1, `${log} but ${taken} records event ${cp.seq}`);
  }
  if (cp.seq === 0) {
    return cp.hash === 'genesis'
      ? { ...result, checkpoint }
      : fail(1, `${taken} records a chain start that is not genesis`);
  }
  const row = await one<{ hash: string }>(sql, 'SELECT hash FROM audit_events WHERE seq = $1', [
    cp.seq,
  ]);
  if (row?.hash !== cp.hash) {
    return fail(
      cp.seq,
      `event ${cp.seq} is not the one ${taken} signed: the log was rewritten at or before it`,
    );
  }
  return { ...result, checkpoint };
}
