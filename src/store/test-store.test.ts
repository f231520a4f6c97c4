import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { dropDeadDatabases, machineTag } from './test-store.js';

const url = process.env.DATABASE_URL;
const skip = url ? false : 'test databases are named on the server only';

test(
  "a dead process's test database is dropped by this machine's next run, another machine's never",
  { skip },
  async () => {
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    // No live process has a pid this large (Linux caps pids at 2^22).
    const dead = 99999999;
    const mine = `gatehouse_test_${dead}_${machineTag()}_cleanup`;
    const theirs = `gatehouse_test_${dead}_${machineTag() === 'aaaaaa' ? 'bbbbbb' : 'aaaaaa'}_cleanup`;
    try {
      for (const db of [mine, theirs]) await admin.query(`CREATE DATABASE ${db}`);
      await dropDeadDatabases(admin, 'gatehouse_test_');
      const left = await admin.query<{ datname: string }>(
        'SELECT datname FROM pg_database WHERE datname = ANY ($1) ORDER BY datname',
        [[mine, theirs]],
      );
      assert.deepEqual(
        left.rows.map((r) => r.datname),
        [theirs],
      );
    } finally {
      for (const db of [mine, theirs]) await admin.query(`DROP DATABASE IF EXISTS ${db}`);
      await admin.end();
    }
  },
);
