import type { SodRule } from '../model.js';

export interface SodViolation {
  rule: SodRule;
  /** The held entitlements that conflict with the requested one. */
  with: string[];
}

/**
 * A rule is violated when the identity would hold at least one entitlement from each of two or
 * more of its sets, and the requested entitlement is one of them (a conflict that exists already
 * without it is reported by reconciliation and dry-run, not pinned on this request).
 */
export function sodViolations(
  rules: SodRule[],
  held: Set<string>,
  requested: string,
): SodViolation[] {
  const out: SodViolation[] = [];
  for (const rule of rules) {
    const mine = rule.conflict.findIndex((set) => set.includes(requested));
    if (mine < 0) continue;
    const conflicting = rule.conflict
      .filter((_, i) => i !== mine)
      .flatMap((set) => set.filter((e) => held.has(e)));
    if (conflicting.length > 0) out.push({ rule, with: conflicting });
  }
  return out;
}

/** Every rule a whole set of held entitlements violates (for dry-run impact and mover checks). */
export function violatedRules(rules: SodRule[], held: Set<string>): SodRule[] {
  return rules.filter((r) => r.conflict.filter((set) => set.some((e) => held.has(e))).length >= 2);
}
