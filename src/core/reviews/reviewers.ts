import type { Catalog } from '../catalog/catalog.js';
import { InputError } from '../errors.js';

/** Who reviews a campaign's items (CLI.md `--reviewer`). */
export type ReviewerRule = 'manager' | 'app_owner' | 'owner' | `group:${string}`;

export function parseReviewerRule(text: string, catalog: Catalog): ReviewerRule {
  if (text === 'manager' || text === 'app_owner' || text === 'owner') return text;
  if (text.startsWith('group:')) {
    const group = text.slice('group:'.length);
    if (!catalog.groups.has(group))
      throw new InputError(`reviewer: group "${group}" is not configured`, {
        code: 'invalid_reviewer',
        field: 'reviewer',
      });
    return `group:${group}`;
  }
  throw new InputError(`reviewer is manager, app_owner, owner or group:NAME, not "${text}"`, {
    code: 'invalid_reviewer',
    field: 'reviewer',
  });
}

/** What resolving a reviewer needs to know about one grant under review. */
export interface ItemParties {
  holder: string;
  manager: string | null;
  /** The holder's owner (non-human identities). */
  owner: string | null;
  app: string;
}

export interface Resolved {
  reviewers: string[];
  /** Why the item went elsewhere than the rule said; null when the rule resolved. */
  routed: string | null;
}

/**
 * The rule's reviewers for one grant, among active identities, never the holder (nobody reviews
 * access they hold; a non-human identity's owner answers for it, which is what `owner` asks). Where that leaves nobody, the item is routed to the
 * app's owner, then to the governance (fallback) group, and says so: an item never vanishes. An
 * item nobody at all may review keeps an empty list and its reason, and takes the default.
 */
export function resolveReviewers(
  rule: ReviewerRule,
  p: ItemParties,
  catalog: Pick<Catalog, 'apps' | 'groups' | 'settings'>,
  active: ReadonlySet<string>,
): Resolved {
  const appOwner = catalog.apps.get(p.app)?.owner ?? null;
  const fallbackGroup = catalog.settings.fallbackGroup;
  const eligible = (xs: (string | null | undefined)[]) => [
    ...new Set(
      xs.filter(
        (x): x is string => typeof x === 'string' && x !== '' && active.has(x) && x !== p.holder,
      ),
    ),
  ];
  const named =
    rule === 'manager'
      ? [p.manager]
      : rule === 'app_owner'
        ? [appOwner]
        : rule === 'owner'
          ? [p.owner]
          : (catalog.groups.get(rule.slice('group:'.length)) ?? []);
  const first = eligible(named);
  if (first.length > 0) return { reviewers: first, routed: null };
  const candidates = named.filter((x): x is string => typeof x === 'string' && x !== '');
  const why =
    candidates.length === 0
      ? `no ${rule} for ${p.holder}`
      : candidates.every((x) => x === p.holder)
        ? `the ${rule} is the holder (nobody reviews their own access)`
        : `the ${rule} (${candidates.join(', ')}) is not active`;
  const owner = eligible([appOwner]);
  if (owner.length > 0) return { reviewers: owner, routed: `${why}: routed to the app owner` };
  const admins = eligible(catalog.groups.get(fallbackGroup) ?? []);
  if (admins.length > 0)
    return { reviewers: admins, routed: `${why}: routed to group ${fallbackGroup}` };
  return {
    reviewers: [],
    routed: `${why}, and neither the app owner nor group ${fallbackGroup} may review it: it takes the campaign's default`,
  };
}
