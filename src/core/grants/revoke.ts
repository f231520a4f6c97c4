import { auditedTransaction } from '../audit/chain.js';
import { authorizeRevoke } from '../authz.js';
import type { Catalog } from '../catalog/catalog.js';
import type { Via } from '../model.js';
import type { Sql } from '../sql.js';
import { requireGrant, startRevocation } from './grants.js';

/**
 * Manual revocation (trigger `manual`): by the holder, the grant's accountable owner, the app
 * owner or the governance group, checked on the locked grant in the revoking transaction.
 */
export async function revokeGrant(
  sql: Sql,
  catalog: Catalog,
  now: Date,
  r: { grantId: string; actor: string; reason: string; via: Via },
): Promise<void> {
  await auditedTransaction(sql, async (tx) => {
    const g = await requireGrant(tx, r.grantId, true);
    authorizeRevoke(r.actor, r.grantId, {
      holder: g.identity,
      grantOwner: g.owner,
      appOwner: catalog.apps.get(g.app)?.owner ?? null,
      governance: {
        group: catalog.settings.fallbackGroup,
        members: catalog.groups.get(catalog.settings.fallbackGroup) ?? [],
      },
    });
    await startRevocation(tx, now, r.actor, r.grantId, 'manual', r.reason, r.via);
  });
}
