import type { Catalog } from '../catalog/catalog.js';
import { addSeconds } from '../duration.js';
import type { RecurringReview } from '../model.js';
import type { Sql } from '../sql.js';
import { createCampaign } from './campaigns.js';

/** The start of the period `now` falls in: periods counted from the Unix epoch. */
export function periodStart(r: Pick<RecurringReview, 'every'>, now: Date): Date {
  const ms = r.every * 1000;
  return new Date(Math.floor(now.getTime() / ms) * ms);
}

/**
 * Opens each reviews.yaml campaign whose current period has none yet, idempotent per period: the
 * check and the opening share a transaction under an advisory lock on the campaign's name (and a
 * unique index backs it), so two runtimes open it once. Due `due_in` after the period started, or
 * after now where the runtime was not running then.
 */
export async function openRecurring(
  sql: Sql,
  catalog: Catalog,
  now: Date,
  actor: string,
): Promise<number> {
  let opened = 0;
  for (const r of catalog.settings.reviews ?? []) {
    const start = periodStart(r, now);
    const scheduled = addSeconds(start, r.dueIn);
    const due = scheduled.getTime() > now.getTime() ? scheduled : addSeconds(now, r.dueIn);
    opened += await sql.transaction(async (tx) => {
      await tx.query(`SELECT pg_advisory_xact_lock(hashtext('gatehouse.review.' || $1))`, [r.name]);
      const [held] = await tx.query(
        'SELECT 1 FROM review_campaigns WHERE recurring = $1 AND period_start = $2',
        [r.name, start],
      );
      if (held) return 0;
      await createCampaign(tx, catalog, now, {
        name: r.name,
        scope: r.scope,
        due,
        reviewer: r.reviewer,
        default: r.default,
        actor,
        via: 'job',
        recurring: { name: r.name, periodStart: start },
      });
      return 1;
    });
  }
  return opened;
}
