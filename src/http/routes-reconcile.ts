import { z } from 'zod';
import { FINDING_KINDS } from '../core/reconcile/settings.js';
import type { ApiRoute, Ctx } from './routes.js';

/** `{ connector?, dry_run? }`: one connector or all; a dry run writes nothing. */
const reconcileBody = z.strictObject({
  connector: z.string().min(1).max(200).optional(),
  dry_run: z.boolean().optional(),
});

const coverage = z.looseObject({
  connector: z.string(),
  status: z.enum(['complete', 'failed', 'not_covered']),
  assignments: z.number(),
  grants: z.number(),
  findings: z.number(),
  error: z.string().nullable(),
});

const kinds = z.enum(FINDING_KINDS);

/** As `reconcile --json` (CLI.md). */
const reconcileResult = z.looseObject({
  run: z.looseObject({
    id: z.string().nullable(),
    status: z.enum(['complete', 'partial']),
    dry_run: z.boolean(),
    connectors: z.array(coverage),
    findings_by_kind: z.record(kinds, z.number()),
  }),
  findings: z.array(
    z.looseObject({
      connector: z.string(),
      kind: kinds,
      identity: z.string().nullable(),
      entitlement: z.string().nullable(),
      ticket: z.string().nullable(),
      action: z.enum(['reported', 'remediated', 'adopted']),
    }),
  ),
});

/** Reconciliation (API.md): admin only, as the token's identity. */
export const RECONCILE_ROUTES: ApiRoute[] = [
  {
    method: 'POST',
    url: '/api/v1/reconcile',
    summary: 'compare targets with the record; findings and remediations, as `reconcile --json`',
    scopes: ['admin'],
    status: 200,
    body: reconcileBody,
    response: reconcileResult,
    handler: (c: Ctx<unknown, unknown, unknown>) => {
      const body = c.body as z.output<typeof reconcileBody>;
      return c.app.reconcile({
        ...(body.connector !== undefined ? { connector: body.connector } : {}),
        dryRun: body.dry_run === true,
        actor: c.caller.identity,
      });
    },
  },
];
