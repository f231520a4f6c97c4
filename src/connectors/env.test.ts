import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InputError } from '../core/errors.js';
import { resolveSetting } from './env.js';

test('every ${VAR} reference in a setting is replaced from the environment', () => {
  const env = { PG_USER: 'gatehouse', PG_PASSWORD: 'hunter2' };
  const url = resolveSetting('pg', 'url', 'postgres://${PG_USER}:${PG_PASSWORD}@db/x', env);
  assert.equal(url, 'postgres://gatehouse:hunter2@db/x');
  assert.equal(resolveSetting('pg', 'url', 'embedded', env), 'embedded');
});

test('an unset variable is named in the error, which leaks no value', () => {
  const env = { PG_PASSWORD: 'hunter2' };
  assert.throws(
    () => resolveSetting('pg-analytics', 'url', 'postgres://u:${PG_PASSWORD}@${PG_HOST}/x', env),
    (e: Error) => {
      assert.ok(e instanceof InputError);
      assert.equal(e.message, 'connector pg-analytics: url refers to ${PG_HOST}, which is not set');
      assert.ok(!e.message.includes('hunter2'));
      return true;
    },
  );
});

test('a missing or non-text setting is an input error naming the connector and key', () => {
  assert.throws(() => resolveSetting('pg', 'url', undefined, {}), /connector pg: url is required/);
  assert.throws(() => resolveSetting('pg', 'url', { a: 1 }, {}), /url must be a string/);
});

test('a reference can never read Gatehouse own credentials, whatever the environment holds', () => {
  const env = {
    DATABASE_URL: 'postgres://gh:storepw@db/gatehouse',
    GATEHOUSE_API_TOKEN: 'tok-123',
    GATEHOUSE_SESSION_SECRET: 's',
    GATEHOUSE_CHECKPOINT_KEY: 'k',
  };
  for (const name of Object.keys(env)) {
    assert.throws(
      () => resolveSetting('pg', 'url', `https://evil.test/?t=\${${name}}`, env),
      (e: Error) => {
        assert.ok(e instanceof InputError);
        assert.equal(e.code, 'reference_refused');
        assert.match(e.message, new RegExp(`refers to \\$\\{${name}\\} is one of Gatehouse's own`));
        assert.ok(!/storepw|tok-123/.test(e.message));
        return true;
      },
    );
  }
});

test('with an allow-list, only the variables it names may be read', () => {
  const env = { PG_TARGET_URL: 'postgres://a@h/x', HOME: '/root' };
  assert.equal(
    resolveSetting('pg', 'url', '${PG_TARGET_URL}', env, ['PG_TARGET_*']),
    env.PG_TARGET_URL,
  );
  assert.throws(
    () => resolveSetting('pg', 'url', 'x${HOME}', env, ['PG_TARGET_*']),
    /connector pg: url refers to \$\{HOME\} is not in secrets\.env_allow of gatehouse\.yaml/,
  );
});
