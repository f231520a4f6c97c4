import { seatsUsed } from '../decision/inputs.js';
import type { Sql } from '../sql.js';
import type { Catalog } from './catalog.js';

/**
 * What may be asked for: every application with its owner, risk and licence pools (seats and how
 * many are taken), and its entitlements with their limits (longest and default duration, whether
 * standing access is possible, who may hold them, whether a ticket is needed). Targets and
 * connector settings are how access is carried out, not what is offered, and are left out.
 */
export async function catalogView(sql: Sql, catalog: Catalog) {
  const apps = [...catalog.apps.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
  const ents = [...catalog.entitlements.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
  const out = [];
  for (const app of apps) {
    const licences = [];
    for (const [tier, seats] of Object.entries(app.licenceSeats).sort()) {
      licences.push({ tier, seats, used: await seatsUsed(sql, app.id, tier) });
    }
    out.push({
      id: app.id,
      name: app.name,
      risk: app.risk,
      owner: app.owner,
      licences,
      entitlements: ents
        .filter((e) => e.app === app.id)
        .map((e) => ({
          id: e.id,
          risk: e.risk,
          privileged: e.privileged,
          max_duration_seconds: e.maxDuration,
          default_duration_seconds: e.defaultDuration,
          standing: e.standing,
          kinds: e.kinds,
          requires_ticket: e.requiresTicket,
          break_glass: e.breakGlass,
          licence_tier: e.licenceTier,
        })),
    });
  }
  return { apps: out };
}
