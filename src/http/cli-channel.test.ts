import assert from 'node:assert/strict';
import { test } from 'node:test';
import { apiFixture } from '../testing/api.js';
import { CLI_CHANNEL_PATH } from './cli-channel.js';

const SECRET = 'local-channel-secret-0123456789abcdefghij';

test('the command channel refuses a caller without its secret, with a wrong one, or off loopback, and audits each like any 401, never the secret', async () => {
  const ran: string[][] = [];
  const f = await apiFixture({
    cliChannel: {
      secret: SECRET,
      run: async (argv) => {
        ran.push(argv);
        return { exit_code: 0, stdout: ['ran'], stderr: [] };
      },
    },
  });
  try {
    const send = (headers: Record<string, string>, remoteAddress = '127.0.0.1') =>
      f.server.inject({
        method: 'POST',
        url: CLI_CHANNEL_PATH,
        remoteAddress,
        headers,
        payload: { argv: ['requests'], cwd: '/tmp' },
      });
    const answers = [
      await send({}),
      await send({ authorization: 'Bearer not-the-secret' }),
      await send({ authorization: `Bearer ${SECRET}` }, '10.0.0.7'),
      await send({ authorization: `Bearer ${SECRET}` }),
    ];
    assert.deepEqual(
      answers.map((a) => a.statusCode),
      [401, 401, 401, 200],
    );
    assert.equal(answers[0]!.json().error.code, 'unauthenticated');
    assert.deepEqual(ran, [['requests']], 'only the call with the secret ran');

    const rows = await f.store.sql.query<{
      actor: string;
      subject: string;
      details: Record<string, unknown>;
    }>(
      `SELECT actor, subject, details FROM audit_events WHERE action = 'access.unauthenticated' ORDER BY seq`,
    );
    assert.deepEqual(
      rows.map((r) => [r.actor, r.details.code, r.details.operation, r.details.address]),
      [
        ['unauthenticated', 'missing_token', `POST ${CLI_CHANNEL_PATH}`, '127.0.0.1'],
        ['unauthenticated', 'invalid_token', `POST ${CLI_CHANNEL_PATH}`, '127.0.0.1'],
        ['unauthenticated', 'not_loopback', `POST ${CLI_CHANNEL_PATH}`, '10.0.0.7'],
      ],
    );
    const all = JSON.stringify(await f.store.sql.query('SELECT * FROM audit_events'));
    assert.ok(!all.includes(SECRET) && !all.includes('not-the-secret'), 'no secret is recorded');
  } finally {
    await f.close();
  }
});
