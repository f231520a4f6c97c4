import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { KeyObject } from 'node:crypto';
import {
  type CheckpointVerifyResult,
  checkpointSigner,
  checkpointTrustedKey,
  readCheckpoint,
} from '../../core/audit/checkpoint.js';
import type { VerifyResult } from '../../core/audit/verify.js';
import { InputError } from '../../core/errors.js';
import { positional, str } from '../args.js';
import type { Command, RunArgs } from '../command.js';
import { formatReport } from '../format-report.js';
import { formatTrace } from '../format-trace.js';

/** PEM Ed25519 private key that signs checkpoints; also vouches for them if no public key is set. */
export const CHECKPOINT_KEY_ENV = 'GATEHOUSE_CHECKPOINT_KEY';
/** PEM Ed25519 public key that checkpoints must be signed with. */
export const CHECKPOINT_PUBLIC_KEY_ENV = 'GATEHOUSE_CHECKPOINT_PUBLIC_KEY';

const envValue = (r: RunArgs, name: string) => {
  const v = r.env.env[name];
  return v === undefined || v.trim() === '' ? undefined : v;
};

/** The key a checkpoint must carry: the public key if set, else the signing key's public half. */
function trustedKey(r: RunArgs): KeyObject {
  const pub = envValue(r, CHECKPOINT_PUBLIC_KEY_ENV);
  if (pub !== undefined) return checkpointTrustedKey(pub, CHECKPOINT_PUBLIC_KEY_ENV);
  const priv = envValue(r, CHECKPOINT_KEY_ENV);
  if (priv !== undefined) return checkpointSigner(priv, CHECKPOINT_KEY_ENV).publicKey;
  throw new InputError(
    `--checkpoint needs the key it must be signed with: set ${CHECKPOINT_PUBLIC_KEY_ENV} (PEM Ed25519 public key) or ${CHECKPOINT_KEY_ENV}`,
    { code: 'checkpoint_key_missing', field: CHECKPOINT_PUBLIC_KEY_ENV },
  );
}

function readText(r: RunArgs, file: string, what: string): string {
  try {
    return readFileSync(resolve(r.env.cwd, file), 'utf8');
  } catch (e) {
    throw new InputError(
      `${what} ${file} cannot be read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
      {
        code: 'checkpoint_unreadable',
        field: file,
      },
    );
  }
}

function verifyText(result: VerifyResult | CheckpointVerifyResult): string {
  const lines = [
    result.ok
      ? `ok: ${result.events} events, chain intact`
      : `BROKEN at event ${result.first_bad}: ${result.reason}`,
    `head: ${result.head.seq} ${result.head.hash}`,
  ];
  if ('checkpoint' in result) {
    const c = result.checkpoint;
    lines.push(
      `checkpoint: event ${c.seq} ${c.hash} of ${c.at} (key ${c.key_fingerprint})${result.ok ? ', still in the log' : ''}`,
    );
  }
  return lines.join('\n');
}

export const auditVerify: Command = {
  name: 'audit verify',
  usage: 'audit verify [--checkpoint FILE]',
  summary:
    'recompute the hash chain and print its head; with a checkpoint, check nothing was cut or rewritten since',
  options: { checkpoint: { type: 'string' } },
  async run(r) {
    const file = str(r.args, 'checkpoint');
    let result: VerifyResult | CheckpointVerifyResult;
    if (file === undefined) {
      result = await r.app.auditVerify();
    } else {
      const key = trustedKey(r);
      const cp = readCheckpoint(readText(r, file, 'checkpoint'), file, key);
      result = await r.app.auditVerifyCheckpoint(cp);
    }
    return { json: result, text: verifyText(result), exitCode: result.ok ? 0 : 3 };
  },
};

export const auditCheckpoint: Command = {
  name: 'audit checkpoint',
  usage: 'audit checkpoint [--out FILE]',
  summary: `sign the verified head with ${CHECKPOINT_KEY_ENV}; keep the result outside Gatehouse`,
  options: { out: { type: 'string' } },
  async run(r) {
    const pem = envValue(r, CHECKPOINT_KEY_ENV);
    if (pem === undefined) {
      throw new InputError(
        `audit checkpoint needs a signing key: set ${CHECKPOINT_KEY_ENV} to a PEM Ed25519 private key`,
        { code: 'checkpoint_key_missing', field: CHECKPOINT_KEY_ENV },
      );
    }
    const signer = checkpointSigner(pem, CHECKPOINT_KEY_ENV);
    const out = str(r.args, 'out');
    if (out === '') throw new InputError('--out needs a file name', { field: 'out' });
    const cp = await r.app.auditCheckpoint(signer);
    const text = `${JSON.stringify(cp, null, 2)}\n`;
    if (out === undefined) return { json: cp, text: text.trimEnd() };
    try {
      // Never overwrite: an older checkpoint is an anchor too.
      writeFileSync(resolve(r.env.cwd, out), text, { flag: 'wx' });
    } catch (e) {
      throw new InputError(
        `--out ${out} cannot be written: ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
        {
          code: 'checkpoint_unwritable',
          field: 'out',
        },
      );
    }
    return {
      json: { ...cp, file: out },
      text: `checkpoint of event ${cp.seq} ${cp.hash} written to ${out} (key ${cp.key_fingerprint})`,
    };
  },
};

export const auditTrace: Command = {
  name: 'audit trace',
  usage: 'audit trace ID',
  summary: 'reconstruct a request or grant from request to verified removal',
  async run(r) {
    const events = await r.app.auditTrace(
      positional(r.args, 2, 'ID: a request (req_…) or grant (grt_…)'),
    );
    return { json: { events }, text: formatTrace(events) };
  },
};

export const auditExport: Command = {
  name: 'audit export',
  usage: 'audit export [--since ISO8601]',
  summary: 'every event as JSON lines on stdout',
  options: { since: { type: 'string' } },
  async run(r) {
    const s = str(r.args, 'since');
    const since = s === undefined ? undefined : new Date(s);
    if (since && Number.isNaN(since.getTime()))
      throw new InputError(`--since: "${s}" is not an ISO 8601 time`);
    // JSON lines are already machine-readable: --json changes nothing here.
    await r.app.auditExport(since, (line) => r.io.stdout(line));
  },
};

export const report: Command = {
  name: 'report',
  usage: 'report',
  summary: 'governance and service metrics',
  async run(r) {
    const rep = await r.app.report();
    return { json: rep, text: formatReport(rep as unknown as Record<string, unknown>) };
  },
};
