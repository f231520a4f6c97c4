import { formatDuration } from '../core/duration.js';
import { IDENTITY_KINDS, type BirthrightRule, type Entitlement } from '../core/model.js';
import { noteRef, type LoadContext } from './context.js';
import type { ConfigFile } from './files.js';
import { birthrightFile, type BirthrightFile } from './schemas.js';
import { YamlSource } from './yaml-source.js';
import { validate } from './zod-issues.js';

type RuleYaml = BirthrightFile[number];

/** Checks a grant against the entitlement it names; unknown names are reported by the cross-check. */
function checkGrant(
  r: RuleYaml,
  i: number,
  k: number,
  e: Entitlement | undefined,
  src: YamlSource,
  ctx: LoadContext,
): void {
  if (!e) return;
  const place = src.place([i, 'grant', k]);
  if (r.standing && !e.standing) {
    ctx.issues.error(
      place,
      `[${i}].grant[${k}]: ${e.id} does not permit standing access, so it cannot be granted with standing: true`,
    );
  }
  if (r.duration !== undefined && e.maxDuration !== null && r.duration > e.maxDuration) {
    ctx.issues.warn(
      place,
      `[${i}].grant[${k}]: duration ${formatDuration(r.duration)} is longer than ${e.id} max_duration ${formatDuration(e.maxDuration)}`,
    );
  }
}

/** birthright.yaml: baseline entitlements granted by identity attribute. */
export function loadBirthright(
  file: ConfigFile | undefined,
  entitlements: Entitlement[],
  ctx: LoadContext,
): BirthrightRule[] {
  if (!file) return [];
  const src = YamlSource.parse(file.rel, file.text, ctx.issues);
  const y = validate(src, birthrightFile, ctx.issues, []);
  if (!y) return [];
  const byId = new Map(entitlements.map((e) => [e.id, e]));
  return y.map((r, i) => {
    const kind = r.when['kind'];
    if (kind !== undefined && !(IDENTITY_KINDS as readonly string[]).includes(kind)) {
      ctx.issues.error(
        src.place([i, 'when', 'kind']),
        `[${i}].when.kind: "${kind}" is not one of ${IDENTITY_KINDS.join(', ')}`,
      );
    }
    if (r.standing && r.duration !== undefined) {
      ctx.issues.error(
        src.place([i, 'duration']),
        `[${i}]: a standing grant has no duration; remove one of standing or duration`,
      );
    }
    r.grant.forEach((id, k) => {
      noteRef(ctx.refs.entitlements, src, [i, 'grant', k], id);
      checkGrant(r, i, k, byId.get(id), src, ctx);
    });
    return {
      index: i,
      when: r.when,
      grant: [...new Set(r.grant)],
      duration: r.duration ?? null,
      standing: r.standing,
    };
  });
}
