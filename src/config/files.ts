import { lstat, readdir, readFile, realpath, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
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
  reviews?: ConfigFile;
  integrations?: ConfigFile;
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
  reviews: 'reviews.yaml',
  integrations: 'integrations.yaml',
} as const;

const SUB_DIRS: Record<string, string> = { apps: '.yaml', policies: '.cedar' };

type Kind = 'file' | 'dir';

interface Entry {
  name: string;
  rel: string;
  kind: Kind;
}

/**
 * Hidden entries are version control (`.git`), editor droppings and Kubernetes ConfigMap internals
 * (`..data`, `..2024_…`, the targets of every mounted file's symlink); the documented exception
 * to "no file is ignored".
 */
function hidden(name: string): boolean {
  return name.startsWith('.');
}

function inside(root: string, path: string): boolean {
  const r = relative(root, path);
  return r === '' || (!r.startsWith(`..${sep}`) && r !== '..' && !r.startsWith(sep));
}

/**
 * The visible entries of `dir`, symlinks resolved: one that stays inside the configuration
 * directory is read like the file it points to (a ConfigMap mount is all symlinks), one that
 * leaves it is an error, since the reviewed directory would no longer be what is applied.
 */
async function entries(root: string, dir: string, sub: string, issues: Issues): Promise<Entry[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const out: Entry[] = [];
  for (const name of names) {
    if (hidden(name)) continue;
    const rel = sub ? `${sub}/${name}` : name;
    const path = join(dir, name);
    const link = await lstat(path);
    if (link.isSymbolicLink()) {
      const target = await realpath(path).catch(() => undefined);
      if (target === undefined) {
        issues.error({ file: rel, line: 0 }, 'a symbolic link to nothing (its target is missing)');
        continue;
      }
      if (!inside(root, target)) {
        issues.error(
          { file: rel, line: 0 },
          'a symbolic link to outside the configuration directory; only links that stay inside it are followed',
        );
        continue;
      }
    }
    const info = link.isSymbolicLink() ? await stat(path) : link;
    if (info.isFile()) out.push({ name, rel, kind: 'file' });
    else if (info.isDirectory()) out.push({ name, rel, kind: 'dir' });
    else issues.error({ file: rel, line: 0 }, 'not a regular file or directory');
  }
  return out;
}

async function read(dir: string, rel: string): Promise<ConfigFile> {
  return { rel, text: await readFile(join(dir, rel), 'utf8') };
}

function unknown(e: Entry, where: string, issues: Issues): void {
  const yml = e.kind === 'file' && e.name.endsWith('.yml');
  const hint = yml ? `; the file must be named ${e.name.replace(/\.yml$/, '.yaml')}` : '';
  issues.error(
    { file: e.rel, line: 0 },
    `unknown ${e.kind === 'dir' ? 'directory' : 'file'} in ${where}${hint}`,
  );
}

/** The files of `apps/` or `policies/`; anything else in it is an error naming it. */
async function listed(root: string, sub: string, issues: Issues): Promise<ConfigFile[]> {
  const ext = SUB_DIRS[sub]!;
  const out: ConfigFile[] = [];
  for (const e of await entries(root, join(root, sub), sub, issues)) {
    if (e.kind === 'file' && e.name.endsWith(ext)) out.push(await read(root, e.rel));
    else unknown(e, `${sub}/ (only *${ext} files belong there)`, issues);
  }
  return out;
}

export async function readConfigFiles(dir: string, issues: Issues): Promise<ConfigFiles> {
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory()) {
    throw new ConfigError([{ file: dir, line: 0, message: 'not a configuration directory' }]);
  }
  // Symlinks are judged against the real directory, so a directory reached through a link works.
  const root = await realpath(dir);
  const files: ConfigFiles = { apps: [], policies: [] };
  const byName = new Map<string, keyof typeof TOP_LEVEL>(
    (Object.entries(TOP_LEVEL) as [keyof typeof TOP_LEVEL, string][]).map(([k, n]) => [n, k]),
  );
  for (const e of await entries(root, root, '', issues)) {
    const key = byName.get(e.name);
    if (key && e.kind === 'file') files[key] = await read(root, e.rel);
    else if (e.name === 'apps' && e.kind === 'dir') files.apps = await listed(root, 'apps', issues);
    else if (e.name === 'policies' && e.kind === 'dir')
      files.policies = await listed(root, 'policies', issues);
    else unknown(e, 'the configuration directory', issues);
  }
  return files;
}
