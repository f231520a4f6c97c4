import type { Group } from '../core/model.js';
import { noteRef, type LoadContext } from './context.js';
import type { ConfigFile } from './files.js';
import { defineFromYaml } from './names.js';
import { groupsFile } from './schemas.js';
import { YamlSource } from './yaml-source.js';
import { validate } from './zod-issues.js';

/** groups.yaml: approver pools and other named sets of identities. */
export function loadGroups(file: ConfigFile | undefined, ctx: LoadContext): Group[] {
  if (!file) return [];
  const src = YamlSource.parse(file.rel, file.text, ctx.issues);
  defineFromYaml(ctx.reg.groups, src, [], 'id', ctx.issues);
  const y = validate(src, groupsFile, ctx.issues, []);
  if (!y) return [];
  return y.map((g, i) => {
    g.members.forEach((m, j) => noteRef(ctx.refs.identities, src, [i, 'members', j], m));
    // Sorted as the store lists them, so re-applying an unchanged file compares equal and writes nothing.
    return { id: g.id, members: [...new Set(g.members)].sort() };
  });
}
