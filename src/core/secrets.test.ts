import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isSecretKey, scrubSecrets, secretsIn } from './secrets.js';

test('the common secret key names count as secrets, and look-alikes do not', () => {
  for (const k of [
    'password',
    'bind_password',
    'passwd',
    'pwd',
    'secret',
    'client_secret',
    'token',
    'github_token',
    'apikey',
    'api_key',
    'apiKey',
    'API-KEY',
    'private_key',
    'privateKey',
    'credentials',
    'sslpassword',
    'passphrase',
  ])
    assert.ok(isSecretKey(k), k);
  for (const k of ['url', 'token_url', 'password_policy', 'user', 'account_attribute', 'keyspace'])
    assert.ok(!isSecretKey(k), k);
});

test('scrubbing removes URL passwords, secret parameters, bearer tokens and known values', () => {
  const cases: [string, string][] = [
    ['connect to postgres://u:pw@h/db failed', 'connect to postgres://u:***@h/db failed'],
    [
      'bad url postgres://u@h/db?sslmode=require&password=pw9',
      'bad url postgres://u@h/db?sslmode=require&password=***',
    ],
    ['conninfo host=db password=pw9 user=x', 'conninfo host=db password=*** user=x'],
    ['{"api_key":"abc","user":"bob"}', '{"api_key":"***","user":"bob"}'],
    ['401 with Authorization: Bearer abc.def-ghi', '401 with Authorization: Bearer ***'],
    ['token_url=https://auth.test/x and user=bob', 'token_url=https://auth.test/x and user=bob'],
  ];
  for (const [message, scrubbed] of cases) assert.equal(scrubSecrets(message), scrubbed);
  assert.equal(scrubSecrets('auth failed for s3cr3t!', ['s3cr3t!']), 'auth failed for ***');
});

test('the secrets written in a URL are found raw and decoded', () => {
  assert.deepEqual(secretsIn('postgres://u:p%40ss@h/db?password=two&x=1').sort(), [
    'p%40ss',
    'p@ss',
    'two',
  ]);
  assert.deepEqual(secretsIn('embedded'), []);
});
