import type { Ref, Refs } from './crossref.js';
import type { Issues } from './issues.js';
import type { Registry } from './names.js';
import type { StageRule } from '../core/model.js';
import type { Path, YamlSource } from './yaml-source.js';
import { formatPath } from './zod-issues.js';

/** What every file loader shares: where findings go, the names defined so far, the names used. */
export interface LoadContext {
  issues: Issues;
  reg: Registry;
  refs: Refs;
  /** gatehouse.yaml's `secrets.env_allow`: the only variables ${VAR} may name, when given. */
  envAllow?: string[];
}

/** Records each stage of a chain written at `path` for resolution against groups and identities. */
export function noteChain(ctx: LoadContext, src: YamlSource, path: Path, chain: StageRule[]): void {
  chain.forEach((stage, i) => {
    const p = [...path, i];
    ctx.refs.rules.push({ name: stage.rule, place: src.place(p), label: formatPath(p) });
  });
}

/** Records a name used at `path`. */
export function noteRef(list: Ref[], src: YamlSource, path: Path, name: string): void {
  list.push({ name, place: src.place(path), label: formatPath(path) });
}
