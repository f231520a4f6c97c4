import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import type { Sql } from '../sql.js';
import { ConflictError, InputError } from '../errors.js';
import { testStore, type TestStore } from '../../store/test-store.js';
import { appendAudit, eventBody, eventHash, type AuditEvent } from './chain.js';
import { toEvent, type AuditRow, AUDIT_COLUMNS } from './rows.js';
import { verifyAudit } from './verify.js';
import {
  type Checkpoint,
  type CheckpointSigner,
  checkpointSigner,
  checkpointTrustedKey,
  signCheckpoint,
  keyFingerprint,
  readCheckpoint,
  takeCheckpoint,
  verifyWithCheckpoint,
} from './checkpoint.js';

const T0 = Date.parse('2025-03-01T09:00:00.000Z');
const at = (i: number) => new Date(T0 + i * 60_000);

const pem = () =>
  generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const SIGNER = checkpointSigner(pem(), 'TEST_KEY');

async function withStore(fn: (s: TestStore) => Promise<void>): Promise<void> {
  const store = await testStore();
  try {
    await fn(store);
  } finally {
    await store.close();
  }
}

async function append(sql: Sql, from: number, to: number): Promise<void> {
  for (let i = from; i <= to; i++) {
    await sql.transaction((tx) =>
      appendAudit(tx, at(i), {
        actor: 'alice@acme.test',
        action: 'config.applied',
        subject: `req_${i}`,
        details: { n: i },
      }),
    );
  }
}

/**
 * The attacker owns the tables: the append-only triggers are off while they work, and the check
 * that holds columns to bodies (migration 034) is dropped.
 */
async function asTableOwner(sql: Sql, work: (tx: Sql) => Promise<void>): Promise<void> {
  await sql.transaction(async (tx) => {
    await tx.query('ALTER TABLE audit_events DISABLE TRIGGER USER');
    await tx.query('ALTER TABLE audit_head DISABLE TRIGGER USER');
    await tx.query('ALTER TABLE audit_events DROP CONSTRAINT IF EXISTS audit_events_agree');
    await work(tx);
    await tx.query('ALTER TABLE audit_events ENABLE TRIGGER USER');
    await tx.query('ALTER TABLE audit_head ENABLE TRIGGER USER');
  });
}

/** A checkpoint as it would come back from a file kept elsewhere. */
const roundTrip = (cp: Checkpoint) =>
  readCheckpoint(JSON.stringify(cp), 'anchor.json', SIGNER.publicKey);

async function expectCaught(sql: Sql, cp: Checkpoint, first_bad: number, reason: RegExp) {
  const plain = await verifyAudit(sql);
  assert.equal(plain.ok, true, 'without a checkpoint the tampering goes unnoticed');
  const r = await verifyWithCheckpoint(sql, roundTrip(cp));
  assert.equal(r.ok, false, 'the checkpoint catches it');
  assert.equal(r.ok === false && r.first_bad, first_bad);
  assert.match(r.ok === false ? r.reason : '', reason);
  assert.equal(r.checkpoint.seq, cp.seq);
}

test('a checkpoint signs the verified head with the time of the injected clock', async () => {
  await withStore(async ({ sql }) => {
    await append(sql, 1, 10);
    const cp = await takeCheckpoint(sql, at(99), SIGNER);
    const v = await verifyAudit(sql);
    assert.ok(v.ok);
    assert.deepEqual({ seq: cp.seq, hash: cp.hash }, v.head);
    assert.equal(cp.at, at(99).toISOString());
    assert.equal(cp.key_fingerprint, keyFingerprint(SIGNER.publicKey));
    // Events appended since do not disturb it: the checkpoint's event is still there.
    await append(sql, 11, 12);
    const r = await verifyWithCheckpoint(sql, roundTrip(cp));
    assert.equal(r.ok, true);
    assert.deepEqual(r.head.seq, 12);
  });
});

test('a cut-off tail with the head moved back verifies alone but not against a checkpoint', async () => {
  await withStore(async ({ sql }) => {
    await append(sql, 1, 10);
    const cp = await takeCheckpoint(sql, at(10), SIGNER);
    await asTableOwner(sql, async (tx) => {
      await tx.query('DELETE FROM audit_events WHERE seq > 7');
      await tx.query(
        'UPDATE audit_head SET seq = 7, hash = (SELECT hash FROM audit_events WHERE seq = 7)',
      );
    });
    await expectCaught(sql, cp, 8, /^the log ends at 7 but the checkpoint of .* records event 10$/);
  });
});

test('a full rehash verifies alone but not against a checkpoint', async () => {
  await withStore(async ({ sql }) => {
    await append(sql, 1, 10);
    const cp = await takeCheckpoint(sql, at(10), SIGNER);
    await asTableOwner(sql, async (tx) => {
      const rows = await tx.query<AuditRow>(
        `SELECT ${AUDIT_COLUMNS} FROM audit_events ORDER BY seq`,
      );
      let prev = 'genesis';
      for (const row of rows) {
        const e: AuditEvent = toEvent(row);
        const forged = { ...e, prev_hash: prev, actor: e.seq === 3 ? 'mallory' : e.actor };
        prev = eventHash(forged);
        // The body too: a rehash that left it would be caught without the checkpoint.
        await tx.query(
          'UPDATE audit_events SET actor = $1, prev_hash = $2, hash = $3, body = $4 WHERE seq = $5',
          [forged.actor, forged.prev_hash, prev, eventBody(forged), e.seq],
        );
      }
      await tx.query('UPDATE audit_head SET hash = $1', [prev]);
    });
    await expectCaught(sql, cp, 10, /^event 10 is not the one the checkpoint of .* signed/);
  });
});

test('a wiped log verifies alone but not against a checkpoint', async () => {
  await withStore(async ({ sql }) => {
    await append(sql, 1, 10);
    const cp = await takeCheckpoint(sql, at(10), SIGNER);
    await asTableOwner(sql, async (tx) => {
      await tx.query('TRUNCATE audit_events');
      await tx.query(`UPDATE audit_head SET seq = 0, hash = 'genesis'`);
    });
    await expectCaught(sql, cp, 1, /^the log is empty but the checkpoint of .* records event 10$/);
  });
});

test('the store refuses to update, delete or truncate audit events', async () => {
  await withStore(async ({ sql }) => {
    await append(sql, 1, 3);
    const refused = (e: unknown) => {
      assert.match(
        String((e as Error).message),
        /audit_events is append-only: (UPDATE|DELETE|TRUNCATE) refused/,
      );
      return true;
    };
    await assert.rejects(
      sql.query(`UPDATE audit_events SET actor = 'mallory' WHERE seq = 2`),
      refused,
    );
    await assert.rejects(sql.query('DELETE FROM audit_events WHERE seq = 3'), refused);
    await assert.rejects(sql.query('DELETE FROM audit_events'), refused);
    await assert.rejects(sql.query('TRUNCATE audit_events'), refused);
    assert.deepEqual((await verifyAudit(sql)).ok, true);
    assert.equal((await verifyAudit(sql)).events, 3);
  });
});

test('the store moves the head only onto the next appended event', async () => {
  await withStore(async ({ sql }) => {
    await append(sql, 1, 3);
    const refused = (e: unknown) => {
      assert.match(String((e as Error).message), /audit_head (only moves forward|is append-only)/);
      return true;
    };
    const hash2 = (
      await sql.query<{ hash: string }>('SELECT hash FROM audit_events WHERE seq = 2')
    )[0]!.hash;
    await assert.rejects(sql.query('UPDATE audit_head SET seq = 2, hash = $1', [hash2]), refused);
    await assert.rejects(sql.query(`UPDATE audit_head SET seq = 0, hash = 'genesis'`), refused);
    await assert.rejects(sql.query(`UPDATE audit_head SET hash = 'forged'`), refused);
    await assert.rejects(sql.query('UPDATE audit_head SET seq = 4'), refused);
    await assert.rejects(sql.query('DELETE FROM audit_head'), refused);
    await assert.rejects(sql.query('TRUNCATE audit_head'), refused);
    // An event inserted out of the chain, its body as the store insists, cannot carry the head.
    const stray = { seq: 4, at: at(4).toISOString(), actor: 'mallory', action: 'x', subject: 'x' };
    await sql.query(
      `INSERT INTO audit_events (seq, at, actor, action, subject, details, refs, prev_hash, hash, body)
       VALUES (4, $1, 'mallory', 'x', 'x', '{}', '{}', 'not-the-head', 'h4', $2)`,
      [stray.at, eventBody({ ...stray, details: {}, refs: [] })],
    );
    await assert.rejects(sql.query(`UPDATE audit_head SET seq = 4, hash = 'h4'`), refused);
    const v = await verifyAudit(sql);
    assert.equal(v.ok === false && v.first_bad, 4, 'the stray event is reported');
  });
});

test('a checkpoint from another key, altered, or not a checkpoint is refused naming what', () => {
  const cp: Checkpoint = {
    format: 'gatehouse-audit-checkpoint/1',
    seq: 0,
    hash: 'genesis',
    at: at(0).toISOString(),
    public_key: '',
    key_fingerprint: '',
    signature: '',
  };
  const refusedWith = (code: string, message: RegExp) => (e: unknown) => {
    assert.ok(e instanceof InputError, String(e));
    assert.equal(e.code, code);
    assert.match(e.message, message);
    return true;
  };
  assert.throws(
    () => readCheckpoint('{"seq": 3', 'anchor.json', SIGNER.publicKey),
    refusedWith('checkpoint_invalid', /^checkpoint anchor\.json: not JSON$/),
  );
  assert.throws(
    () => readCheckpoint(JSON.stringify({ ...cp, format: 'x' }), 'anchor.json', SIGNER.publicKey),
    refusedWith('checkpoint_invalid', /not a gatehouse-audit-checkpoint\/1 file/),
  );
  // Signed by a key nobody trusts: the embedded public key alone proves nothing.
  const other = checkpointSigner(pem(), 'OTHER');
  const forged = signed(other, 5, 'abc');
  assert.throws(
    () => readCheckpoint(JSON.stringify(forged), 'anchor.json', SIGNER.publicKey),
    refusedWith(
      'checkpoint_key_mismatch',
      /was signed by key sha256:[0-9a-f]{64}, not the trusted key/,
    ),
  );
  const genuine = signed(SIGNER, 5, 'abc');
  assert.equal(roundTrip(genuine).seq, 5);
  assert.throws(
    () => roundTrip({ ...genuine, seq: 4 }),
    refusedWith('checkpoint_bad_signature', /the signature does not match its contents/),
  );
  assert.throws(
    () => checkpointSigner('not a key', 'GATEHOUSE_CHECKPOINT_KEY'),
    refusedWith('checkpoint_key_invalid', /^GATEHOUSE_CHECKPOINT_KEY is not a PEM private key$/),
  );
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 })
    .publicKey.export({ type: 'spki', format: 'pem' })
    .toString();
  assert.throws(
    () => checkpointTrustedKey(rsa, 'GATEHOUSE_CHECKPOINT_PUBLIC_KEY'),
    refusedWith('checkpoint_key_invalid', /is rsa key; checkpoints are signed with Ed25519/),
  );
});

test('a checkpoint of a broken chain is refused', async () => {
  await withStore(async ({ sql }) => {
    await append(sql, 1, 3);
    await asTableOwner(sql, async (tx) => {
      await tx.query(`UPDATE audit_events SET actor = 'mallory' WHERE seq = 2`);
    });
    await assert.rejects(takeCheckpoint(sql, at(9), SIGNER), (e: unknown) => {
      assert.ok(e instanceof ConflictError);
      assert.equal(e.code, 'audit_chain_broken');
      assert.match(e.message, /broken at event 2/);
      return true;
    });
  });
});

const signed = (signer: CheckpointSigner, seq: number, hash: string) =>
  signCheckpoint({ seq, hash }, at(0), signer);
