import { InputError } from '../core/errors.js';
import type { App, Entitlement, RecurringReview } from '../core/model.js';
import { parseScope } from '../core/reviews/scope.js';
import type { LoadContext } from './context.js';
import type { ConfigFile } from './files.js';
import { reviewsFile } from './schemas.js';
import { YamlSource } from './yaml-source.js';
import { validate } from './zod-issues.js';

/**
 * reviews.yaml: recurring access-review campaigns. Each scope is parsed with the grammar
 * `review create` uses, against this configuration's apps and entitlements, and each reviewer
 * rule checked, so a typo is reported at its line rather than when the runtime opens it.
 */
export function loadReviews(
  file: ConfigFile | undefined,
  known: { apps: App[]; entitlements: Entitlement[] },
  ctx: LoadContext,
): RecurringReview[] {
  if (!file) return [];
  const src = YamlSource.parse(file.rel, file.text, ctx.issues);
  const y = validate(src, reviewsFile, ctx.issues, []);
  if (!y) return [];
  const ids = {
    apps: new Set(known.apps.map((a) => a.id)),
    entitlements: new Set(known.entitlements.map((e) => e.id)),
  };
  const names = new Set<string>();
  return y.map((r, i) => {
    if (names.has(r.name))
      ctx.issues.error(src.place([i, 'name']), `name: "${r.name}" is used by another campaign`);
    names.add(r.name);
    try {
      parseScope(r.scope, ids);
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      ctx.issues.error(src.place([i, 'scope']), e.message);
    }
    if (r.reviewer.startsWith('group:'))
      ctx.refs.rules.push({
        name: r.reviewer,
        place: src.place([i, 'reviewer']),
        label: `reviews[${i}].reviewer`,
      });
    else if (!['manager', 'app_owner', 'owner'].includes(r.reviewer))
      ctx.issues.error(
        src.place([i, 'reviewer']),
        `reviewer: expected manager, app_owner, owner or group:NAME, not "${r.reviewer}"`,
      );
    if (r.due_in > r.every)
      ctx.issues.error(
        src.place([i, 'due_in']),
        'due_in: a campaign must be due before the next one opens (due_in at most every)',
      );
    return {
      name: r.name,
      scope: r.scope,
      every: r.every,
      dueIn: r.due_in,
      reviewer: r.reviewer,
      default: r.default,
    };
  });
}
