import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Harness, harness } from '../testing/harness.js';

const KEY = 'GATEHOUSE_CHECKPOINT_KEY';
const PUBLIC_KEY = 'GATEHOUSE_CHECKPOINT_PUBLIC_KEY';

function keyPair() {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    priv: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    pub: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/** The harness runs the CLI in this process with process.env: set the keys for one step. */
async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>) {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const set = (v: Record<string, string | undefined>) => {
    for (const [k, x] of Object.entries(v)) {
      if (x === undefined) delete process.env[k];
      else process.env[k] = x;
    }
  };
  set(vars);
  try {
    return await fn();
  } finally {
    set(saved);
  }
}

let h: Harness;
before(async () => {
  h = await harness({ people: false });
});
after(() => h.close());

test('audit verify prints the head, and a checkpoint catches a cut tail that verify alone passes', async () => {
  const keys = keyPair();
  const v = await h.cli(['audit', 'verify']);
  assert.equal(v.code, 0, v.stderr);
  assert.equal(v.json.ok, true);
  assert.equal(v.json.head.seq, v.json.events);
  assert.match(v.json.head.hash, /^[0-9a-f]{64}$/);

  const file = join(h.dir, 'anchor.json');
  const cp = await withEnv({ [KEY]: keys.priv }, () =>
    h.cli(['audit', 'checkpoint', '--out', file]),
  );
  assert.equal(cp.code, 0, cp.stderr);
  const saved = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  assert.equal(saved.seq, v.json.head.seq);
  assert.equal(saved.hash, v.json.head.hash);
  assert.equal(saved.at, h.now, 'the time comes from the engine clock');
  const again = await withEnv({ [KEY]: keys.priv }, () =>
    h.cli(['audit', 'checkpoint', '--out', file]),
  );
  assert.equal(again.code, 1, 'an existing checkpoint is never overwritten');
  assert.match(again.stderr, /anchor\.json cannot be written: EEXIST/);

  const ok = await withEnv({ [KEY]: undefined, [PUBLIC_KEY]: keys.pub }, () =>
    h.cli(['audit', 'verify', '--checkpoint', file]),
  );
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.json.checkpoint.seq, saved.seq);

  // The table owner cuts the last two events and moves the head back to match.
  const cut = Number(saved.seq) - 2;
  await h.store.sql.transaction(async (tx) => {
    await tx.query('ALTER TABLE audit_events DISABLE TRIGGER USER');
    await tx.query('ALTER TABLE audit_head DISABLE TRIGGER USER');
    await tx.query('DELETE FROM audit_events WHERE seq > $1', [cut]);
    await tx.query(
      'UPDATE audit_head SET seq = $1, hash = (SELECT hash FROM audit_events WHERE seq = $1)',
      [cut],
    );
    await tx.query('ALTER TABLE audit_events ENABLE TRIGGER USER');
    await tx.query('ALTER TABLE audit_head ENABLE TRIGGER USER');
  });
  const alone = await h.cli(['audit', 'verify']);
  assert.equal(alone.code, 0, 'a consistent cut passes without an anchor');
  const caught = await withEnv({ [KEY]: keys.priv, [PUBLIC_KEY]: undefined }, () =>
    h.cli(['audit', 'verify', '--checkpoint', file]),
  );
  assert.equal(caught.code, 3);
  assert.equal(caught.json.ok, false);
  assert.equal(caught.json.first_bad, cut + 1);
  assert.equal(caught.json.head.seq, cut);
});

test('checkpoint and verify --checkpoint name a missing key, a foreign key or an unreadable file', async () => {
  const mine = keyPair();
  const theirs = keyPair();
  const file = join(h.dir, 'theirs.json');
  const signed = await withEnv({ [KEY]: theirs.priv }, () =>
    h.cli(['audit', 'checkpoint', '--out', file]),
  );
  assert.equal(signed.code, 0, signed.stderr);

  const cases: [Record<string, string | undefined>, string[], RegExp][] = [
    [
      { [KEY]: undefined },
      ['audit', 'checkpoint'],
      /needs a signing key: set GATEHOUSE_CHECKPOINT_KEY/,
    ],
    [
      { [KEY]: 'nonsense' },
      ['audit', 'checkpoint'],
      /GATEHOUSE_CHECKPOINT_KEY is not a PEM private key/,
    ],
    [
      { [KEY]: undefined, [PUBLIC_KEY]: undefined },
      ['audit', 'verify', '--checkpoint', file],
      /set GATEHOUSE_CHECKPOINT_PUBLIC_KEY/,
    ],
    [
      { [PUBLIC_KEY]: mine.pub },
      ['audit', 'verify', '--checkpoint', file],
      /theirs\.json was signed by key sha256:\w+, not the trusted key sha256:\w+/,
    ],
    [
      { [PUBLIC_KEY]: mine.pub },
      ['audit', 'verify', '--checkpoint', join(h.dir, 'nowhere.json')],
      /checkpoint .*nowhere\.json cannot be read: ENOENT/,
    ],
  ];
  for (const [env, args, message] of cases) {
    const r = await withEnv(env, () => h.cli(args));
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  }

  writeFileSync(file, readFileSync(file, 'utf8').replace(/"seq": \d+/, '"seq": 1'));
  const tampered = await withEnv({ [PUBLIC_KEY]: theirs.pub }, () =>
    h.cli(['audit', 'verify', '--checkpoint', file]),
  );
  assert.equal(tampered.code, 1);
  assert.match(tampered.stderr, /the signature does not match its contents/);
});
