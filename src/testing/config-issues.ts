import assert from 'node:assert/strict';
import { ConfigError, formatIssue, type ConfigIssue } from '../config/issues.js';
import { loadConfigDir } from '../config/load.js';

/** The issues a configuration directory is refused with; fails the test if it loads. */
export async function configErrorsOf(dir: string): Promise<ConfigIssue[]> {
  try {
    await loadConfigDir(dir);
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    return e.issues;
  }
  assert.fail('the configuration loaded, but errors were expected');
}

/** The issue at `file:line` whose message matches, or a failure listing what there was. */
export function findIssue(
  list: ConfigIssue[],
  file: string,
  line: number,
  pattern: RegExp,
): ConfigIssue {
  const hit = list.find((i) => i.file === file && i.line === line && pattern.test(i.message));
  assert.ok(hit, `no ${file}:${line} ${pattern} among:\n${list.map(formatIssue).join('\n')}`);
  return hit;
}
