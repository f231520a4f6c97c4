import { TargetError } from '../errors.js';
import {
  type Assignment,
  compareAssignments,
  compareTargets,
  compareText,
} from '../ports/connector.js';
import type { GrantSide } from './grants-side.js';

type Target = Record<string, string>;

/** One governed target of a connector and the entitlements that map to it. */
export interface TargetGroup {
  target: Target;
  /** Sorted by id; more than one when several entitlements map to the same target. */
  entitlements: string[];
}

/** One (target, account) pair seen on either side: held in the target or not, and its grants. */
export interface Cell {
  target: Target;
  account: string;
  present: boolean;
  grants: GrantSide[];
}

export interface MergeCounts {
  assignments: number;
  grants: number;
}

/**
 * The listing, one assignment at a time, checked to be in the port's order: a connector that
 * answers out of order would make the merge report drift that is not there, so it fails instead.
 */
async function* ordered(
  connector: string,
  pages: AsyncIterable<Assignment[]>,
  counts: MergeCounts,
): AsyncGenerator<Assignment> {
  let prev: Assignment | undefined;
  for await (const page of pages) {
    for (const a of page) {
      const c = prev ? compareAssignments(prev, a) : -1;
      if (c === 0) continue; // the same pair twice (a group found under two names): once
      if (c > 0) {
        throw new TargetError(
          `${connector} listed ${JSON.stringify(a)} after ${JSON.stringify(prev)}, out of the order the merge needs`,
          { code: 'listing_unordered', retryable: false },
        );
      }
      counts.assignments++;
      prev = a;
      yield a;
    }
  }
}

/** The grants of each target in turn, gathered per account (an account may hold several). */
async function* grantCells(
  groups: readonly TargetGroup[],
  pagesOf: (g: TargetGroup) => AsyncIterable<GrantSide[]>,
  counts: MergeCounts,
): AsyncGenerator<Cell> {
  for (const g of groups) {
    let cell: Cell | undefined;
    for await (const page of pagesOf(g)) {
      for (const row of page) {
        counts.grants++;
        if (cell && cell.account === row.account) {
          cell.grants.push(row);
          continue;
        }
        if (cell) yield cell;
        cell = { target: g.target, account: row.account, present: false, grants: [row] };
      }
    }
    if (cell) yield cell;
  }
}

/**
 * One streaming merge of two sorted streams (the target's listing, the grants of its governed
 * targets), both by target then account as UTF-8 bytes: each (target, account) comes out once,
 * with whether the target holds it and the grants that say it should or should not. Memory is a
 * page of each side, whatever their sizes; no grant costs a round trip of its own.
 */
export async function* mergeSorted(
  connector: string,
  listing: AsyncIterable<Assignment[]>,
  groups: readonly TargetGroup[],
  pagesOf: (g: TargetGroup) => AsyncIterable<GrantSide[]>,
  counts: MergeCounts,
): AsyncGenerator<Cell> {
  const held = ordered(connector, listing, counts);
  const granted = grantCells(groups, pagesOf, counts);
  let a = await held.next();
  let g = await granted.next();
  while (!a.done || !g.done) {
    const c = a.done
      ? 1
      : g.done
        ? -1
        : compareTargets(a.value.target, g.value.target) ||
          compareText(a.value.account, g.value.account);
    if (c < 0) {
      const x = a.value as Assignment;
      yield { target: x.target, account: x.account, present: true, grants: [] };
      a = await held.next();
    } else if (c > 0) {
      yield g.value as Cell;
      g = await granted.next();
    } else {
      yield { ...(g.value as Cell), present: true };
      a = await held.next();
      g = await granted.next();
    }
  }
}
