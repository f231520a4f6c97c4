import type { SodRule } from '../core/model.js';
import { noteChain, noteRef, type LoadContext } from './context.js';
import type { ConfigFile } from './files.js';
import { Names } from './names.js';
import { sodFile, type SodFile } from './schemas.js';
import { YamlSource } from './yaml-source.js';
import { validate } from './zod-issues.js';

type SodYaml = SodFile[number];

function toRule(r: SodYaml, i: number, src: YamlSource, ctx: LoadContext): SodRule {
  const seen = new Map<string, number>();
  r.conflict.forEach((set, s) =>
    set.forEach((id, k) => {
      const path = [i, 'conflict', s, k];
      noteRef(ctx.refs.entitlements, src, path, id);
      const other = seen.get(id);
      // The same entitlement in two sets would make holding it alone a violation.
      if (other !== undefined && other !== s) {
        ctx.issues.error(
          src.place(path),
          `[${i}].conflict[${s}]: "${id}" is also in conflict set ${other}`,
        );
      }
      seen.set(id, s);
    }),
  );
  if (r.on_conflict === 'require_exception' && !r.exception) {
    ctx.issues.error(
      src.place([i, 'on_conflict']),
      `[${i}]: on_conflict require_exception needs an exception: { approvers, max_duration }`,
    );
  }
  if (r.on_conflict === 'block' && r.exception) {
    ctx.issues.warn(
      src.place([i, 'exception']),
      `[${i}].exception: ignored, because on_conflict is block`,
    );
  }
  if (r.exception) noteChain(ctx, src, [i, 'exception', 'approvers'], r.exception.approvers);
  return {
    id: r.id,
    description: r.description,
    conflict: r.conflict.map((set) => [...new Set(set)]),
    onConflict: r.on_conflict,
    exception:
      r.on_conflict === 'require_exception' && r.exception
        ? { approvers: r.exception.approvers, maxDuration: r.exception.max_duration }
        : null,
  };
}

/** sod.yaml: segregation-of-duties rules over entitlement ids. */
export function loadSod(file: ConfigFile | undefined, ctx: LoadContext): SodRule[] {
  if (!file) return [];
  const src = YamlSource.parse(file.rel, file.text, ctx.issues);
  const ids = new Names('rule', file.rel);
  const y = validate(src, sodFile, ctx.issues, []);
  if (!y) return [];
  return y.map((r, i) => {
    ids.define(r.id, src.place([i, 'id']), `[${i}].id`, ctx.issues);
    return toRule(r, i, src, ctx);
  });
}
