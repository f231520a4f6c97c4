import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { configVariant } from '../testing/config-variant.js';
import { ConfigError } from './issues.js';
import { loadConfigDir } from './load.js';

const GOOD = `- name: Quarterly privileged access
  scope: privileged=true
  every: 90d
  due_in: 14d
- name: ERP owners
  scope: app=erp,risk=high
  every: 30d
  due_in: 7d
  reviewer: group:security
  default: certify
`;

test('reviews.yaml is read into the settings, with reviewer manager and default revoke unless given', async () => {
  const parent = mkdtempSync(join(tmpdir(), 'gatehouse-reviews-cfg-'));
  try {
    const { config } = await loadConfigDir(configVariant(parent, { 'reviews.yaml': () => GOOD }));
    assert.deepEqual(config.settings.reviews, [
      {
        name: 'Quarterly privileged access',
        scope: 'privileged=true',
        every: 90 * 86400,
        dueIn: 14 * 86400,
        reviewer: 'manager',
        default: 'revoke',
      },
      {
        name: 'ERP owners',
        scope: 'app=erp,risk=high',
        every: 30 * 86400,
        dueIn: 7 * 86400,
        reviewer: 'group:security',
        default: 'certify',
      },
    ]);
  } finally {
    rmSync(parent, { recursive: true, force: true });
  }
});

test('a bad scope, reviewer, group, default, due_in or a repeated name in reviews.yaml is an error at its line', async () => {
  const parent = mkdtempSync(join(tmpdir(), 'gatehouse-reviews-cfg-'));
  try {
    const dir = configVariant(parent, {
      'reviews.yaml': () => `- name: A
  scope: app=nope
  every: 30d
  due_in: 7d
- name: A
  scope: risk=high
  every: 30d
  due_in: 40d
  reviewer: boss
- name: C
  scope: kind=human
  every: 30d
  due_in: 7d
  reviewer: group:auditors
`,
    });
    const e = await loadConfigDir(dir).then(
      () => assert.fail('loaded'),
      (x: unknown) => x as ConfigError,
    );
    assert.ok(e instanceof ConfigError);
    const at = (line: number, re: RegExp) =>
      assert.ok(
        e.issues.some((i) => i.file === 'reviews.yaml' && i.line === line && re.test(i.message)),
        `line ${line} ${re}: ${JSON.stringify(e.issues)}`,
      );
    at(2, /scope: app "nope" is not configured/);
    at(5, /"A" is used by another campaign/);
    at(8, /due_in: a campaign must be due before the next one opens/);
    at(9, /reviewer: expected manager, app_owner, owner or group:NAME, not "boss"/);
    at(14, /auditors/);
    const typo = configVariant(parent, {
      'reviews.yaml': () =>
        '- name: D\n  scope: kind=human\n  every: 30d\n  due_in: 7d\n  default: maybe\n',
    });
    await assert.rejects(loadConfigDir(typo), (x: ConfigError) => {
      assert.deepEqual(
        x.issues.map((i) => [i.file, i.line]),
        [['reviews.yaml', 5]],
      );
      assert.match(x.issues[0]!.message, /default: "maybe" is not one of certify, revoke/);
      return true;
    });
  } finally {
    rmSync(parent, { recursive: true, force: true });
  }
});
