import { targetKey } from '../core/ports/connector.js';
import { connectorModule } from '../connectors/modules.js';
import { at, type Issues, type Place } from './issues.js';

/** Where an entitlement's target was written, and the connector its app provisions through. */
export interface PlacedTarget {
  entitlement: string;
  connector: string;
  connectorType: string | undefined;
  target: Record<string, string>;
  place: Place;
}

/**
 * Two entitlements that map to one assignment in one target (the same connector, the same group
 * or role) are refused: the target keeps one membership whatever the number of grants behind it,
 * so revoking either grant would take away the access the other still grants (ADR 0025). The
 * error is on the later one and names the earlier one's file and line.
 */
export function checkOverlaps(targets: readonly PlacedTarget[], issues: Issues): void {
  const seen = new Map<string, PlacedTarget>();
  for (const t of targets) {
    const module = t.connectorType === undefined ? undefined : connectorModule(t.connectorType);
    const key = `${t.connector}\0${module?.assignmentKey?.(t.target) ?? targetKey(t.target)}`;
    const first = seen.get(key);
    if (!first) {
      seen.set(key, t);
      continue;
    }
    issues.error(
      t.place,
      `entitlement "${t.entitlement}": target ${JSON.stringify(t.target)} on connector ${t.connector} ` +
        `is the same assignment as entitlement "${first.entitlement}" (${at(first.place)}); ` +
        `revoking one would remove the access the other grants, so give each entitlement its own ` +
        `group or role, or make them one entitlement`,
    );
  }
}
