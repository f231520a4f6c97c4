import { z } from 'zod';
import { InputError } from '../core/errors.js';
import { parseDuration } from '../core/duration.js';
import type { StageRule } from '../core/model.js';

/**
 * A YAML map with a fixed set of fields. Unknown keys are not stripped silently: each is an issue
 * (a typo such as `max_duraton` would otherwise fall back to a default unnoticed). The catch-all
 * reports per key, so every typo gets its own line, even when other fields are invalid too.
 */
export function fields<S extends z.ZodRawShape>(shape: S) {
  const known = Object.keys(shape);
  return z.object(shape).catchall(
    z.unknown().superRefine((_v, ctx) => {
      ctx.addIssue({
        code: 'custom',
        message: 'unknown field',
        params: { unknownField: true, known },
      });
    }),
  );
}

export const name = z.string().min(1);

/** "8h", "90d" → seconds. A bare number is refused rather than guessed to be seconds. */
export const duration = z.unknown().transform((v, ctx): number => {
  if (typeof v === 'string' || typeof v === 'number') {
    try {
      return parseDuration(String(v));
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      ctx.addIssue({ code: 'custom', message: e.message.replace(/^duration: /, ''), input: v });
      return z.NEVER;
    }
  }
  ctx.addIssue({ code: 'custom', message: 'expected a duration such as 8h or 90d', input: v });
  return z.NEVER;
});

const RULE = /^(manager|owner|app_owner|group:\S+|identity:\S+)$/;

const ruleWord = z.string().superRefine((v, ctx) => {
  if (!RULE.test(v)) {
    ctx.addIssue({
      code: 'custom',
      message: `"${v}" is not an approval rule (use manager, owner, app_owner, group:NAME or identity:ID)`,
    });
  }
});

const stageObject = fields({ rule: ruleWord, min_approvals: z.number().int().min(1).default(1) });

/** YAML reads `- group: security` (a space after the colon) as a map, not the rule group:security. */
function stageHint(input: unknown): string {
  const entries = typeof input === 'object' && input !== null ? Object.entries(input) : [];
  const [only] = entries;
  if (entries.length === 1 && only && (only[0] === 'group' || only[0] === 'identity')) {
    return `write ${only[0]}:${String(only[1])} without a space after the colon (YAML reads it as a map)`;
  }
  return 'expected an approval rule such as manager or group:NAME, or { rule, min_approvals }';
}

/** `manager` or `{ rule: group:security, min_approvals: 2 }`. */
export const stageRule = z
  .union([ruleWord, stageObject], { error: (iss) => stageHint(iss.input) })
  .transform((v): StageRule =>
    typeof v === 'string'
      ? { rule: v, minApprovals: 1 }
      : { rule: v.rule, minApprovals: v.min_approvals },
  );

/** An empty chain would approve with nobody's approval; a stage that finds nobody uses the fallback group. */
export const chain = z.array(stageRule).min(1, 'an approval chain needs at least one stage');

/** A list file (groups.yaml, sod.yaml…) holds a YAML sequence at its top. */
export function listOf<T extends z.ZodType>(item: T) {
  return z.array(item, {
    error: (iss) =>
      iss.code === 'invalid_type' ? 'expected a list of entries (- ...)' : undefined,
  });
}
