import { z } from 'zod';
import { InputError, TargetError } from '../core/errors.js';
import type { AccessRef } from '../core/ports/connector.js';
import { parseDuration } from '../core/duration.js';

/**
 * The zod vocabulary of connector settings and targets. The connector layer may not import
 * src/config, so these mirror `fields` and `duration` of config/schema-kit.ts, including the
 * `{ unknownField, known }` issue params by which config's reportZod names an unknown key at its
 * line with a did-you-mean hint. Keep the two in step.
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

/** "5s", "2m" → seconds. A bare number is refused rather than guessed to be seconds. */
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
  ctx.addIssue({ code: 'custom', message: 'expected a duration such as 5s or 1m', input: v });
  return z.NEVER;
});

const EXPECTED: Record<string, string> = {
  object: 'a map',
  string: 'text',
  number: 'a number',
  boolean: 'true or false',
};

/** The first problem of a failed parse as one line: `url: is required`, `unknown setting "x"`. */
export function firstProblem(error: z.ZodError): { path: string; message: string } {
  const i = error.issues[0]!;
  const keys = i.path.filter((k): k is string | number => typeof k !== 'symbol').map(String);
  const params = i.code === 'custom' ? (i.params as { unknownField?: boolean }) : undefined;
  if (params?.unknownField) {
    const key = keys.pop()!;
    const at = keys.length ? `${keys.join('.')}: ` : '';
    return { path: [...keys, key].join('.'), message: `${at}unknown setting "${key}"` };
  }
  let message = i.message;
  if (i.code === 'invalid_type') {
    message =
      i.input === undefined ? 'is required' : `expected ${EXPECTED[i.expected] ?? i.expected}`;
  }
  const path = keys.join('.');
  return { path, message: path ? `${path}: ${message}` : message };
}

/**
 * The target of a connector a person or a receiver reads (manual, webhook): any non-empty mapping
 * of names to text ({ door: "server room" }, { group: "readers" }).
 */
export const describedTarget = z
  .record(z.string(), z.string())
  .refine((t) => Object.keys(t).length > 0, 'needs at least one field describing the access');

/** Refuses a call on a closed connector, or on a target `describedTarget` does not accept. */
export function checkDescribedRef(
  connector: string,
  closed: boolean,
  ref: AccessRef,
  what: string,
): void {
  if (closed)
    throw new TargetError(`connector ${connector}: the connector is closed`, {
      code: 'connector_closed',
    });
  if (!describedTarget.safeParse(ref.target).success)
    throw new TargetError(
      `connector ${connector}: ${what} ${ref.account}: the entitlement's target says nothing about the access`,
      { code: 'invalid_target', retryable: false },
    );
}
