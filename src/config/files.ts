import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, type Issues } from './issues.js';

export interface ConfigFile {
  /** Relative to the configuration directory, with forward slashes. */
  rel: string;
  text: string;
}

export interface ConfigFiles {
  settings?: ConfigFile;
  identities?: ConfigFile;
  groups?: ConfigFile;
  sod?: ConfigFile;
  birthright?: ConfigFile;
  connectors?: ConfigFile;
  apps: ConfigFile[];
  policies: ConfigFile[];
}

const TOP_LEVEL = {
  settings: 'gatehouse.yaml',
  identities: 'identities.csv',
  groups: 'groups.yaml',
  sod: 'sod.yaml',
  birthright: 'birthright.yaml',
  connectors: 'connectors.yaml',
} as const;

async function entries(dir: string): Promise<{ name: string; isFile: boolean }[]> {
  try {
    const list = await readdir(dir, { withFileTypes: true });
    return list
      .map((e) => ({ name: e.name, isFile: e.isFile() }))
      .sort((a, b) => (a.name < b.name ? -1 : 1));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

async function read(dir: string, rel: string): Promise<ConfigFile> {
  return { rel, text: await readFile(join(dir, rel), 'utf8') };
}

/** Files in a sub-directory with the given extension; a near miss (.yml) is reported, not silently skipped. */
async function listed(
  dir: string,
  sub: string,
  ext: string,
  issues: Issues,
): Promise<ConfigFile[]> {
  const out: ConfigFile[] = [];
  for (const e of await entries(join(dir, sub))) {
    const rel = `${sub}/${e.name}`;
    if (e.isFile && e.name.endsWith(ext)) out.push(await read(dir, rel));
    else if (e.isFile && ext === '.yaml' && e.name.endsWith('.yml')) {
      issues.warn({ file: rel, line: 0 }, `ignored: only *${ext} files are read in ${sub}/`);
    }
  }
  return out;
}

export async function readConfigFiles(dir: string, issues: Issues): Promise<ConfigFiles> {
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory()) {
    throw new ConfigError([{ file: dir, line: 0, message: 'not a configuration directory' }]);
  }
  const top = new Map((await entries(dir)).map((e) => [e.name, e.isFile]));
  const files: ConfigFiles = {
    apps: await listed(dir, 'apps', '.yaml', issues),
    policies: await listed(dir, 'policies', '.cedar', issues),
  };
  for (const [key, fileName] of Object.entries(TOP_LEVEL) as [keyof typeof TOP_LEVEL, string][]) {
    if (top.get(fileName)) files[key] = await read(dir, fileName);
    const yml = fileName.replace(/\.yaml$/, '.yml');
    if (yml !== fileName && top.get(yml)) {
      issues.warn({ file: yml, line: 0 }, `ignored: the file must be named ${fileName}`);
    }
  }
  return files;
}
