import type { RequestInput } from '../../core/requests/submit.js';
import { Rng } from '../generate/rng.js';
import { type BenchWorld, peerKey } from '../generate/world.js';

/**
 * Requests drawn so that a decision runs every step rather than stopping early: nobody asks for
 * what they hold (the duplicate check would end it), and the mix is chosen to reach eligibility
 * refusals, SoD against held grants, full seat pools, role fit from peers, and approval routing.
 */
export type Draw = 'role' | 'sod' | 'seats' | 'any' | 'nhi';

const MIX: [Draw, number][] = [
  ['role', 0.45],
  ['sod', 0.15],
  ['seats', 0.1],
  ['any', 0.15],
  ['nhi', 0.15],
];

export interface DrawnRequest {
  draw: Draw;
  input: RequestInput;
}

export class RequestDrawer {
  private readonly rng: Rng;
  /** identity index * entitlements + entitlement index, for everything held or already drawn. */
  private readonly taken = new Set<number>();
  private readonly holders = new Map<number, number[]>();
  private readonly licensed: number[];
  private readonly ents: number;

  constructor(
    private readonly world: BenchWorld,
    seed: number,
    /** Draw each (identity, entitlement) pair once: requests that write must not repeat one. */
    private readonly unique: boolean,
  ) {
    this.rng = new Rng(seed);
    this.ents = world.entitlements.length;
    const sodSides = new Set(world.conflicts.keys());
    const g = world.grants;
    for (let k = 0; k < g.length; k++) {
      this.taken.add(g.identity[k]! * this.ents + g.entitlement[k]!);
      const e = g.entitlement[k]!;
      if (sodSides.has(e)) {
        const list = this.holders.get(e) ?? [];
        list.push(g.identity[k]!);
        this.holders.set(e, list);
      }
    }
    this.licensed = world.entitlements.flatMap((e, i) => (e.licenceTier ? [i] : []));
  }

  next(): DrawnRequest {
    for (;;) {
      const draw = this.kind();
      const pair = this.pair(draw);
      if (!pair) continue;
      const [who, ent] = pair;
      const key = who * this.ents + ent;
      if (this.taken.has(key)) continue;
      if (this.unique) this.taken.add(key);
      const identity = this.world.identities[who]!;
      return {
        draw,
        input: {
          requester: identity.kind === 'human' ? identity.id : identity.owner,
          beneficiary: identity.id,
          entitlement: this.world.entitlements[ent]!.id,
          justification: 'benchmark: access drawn from the role pattern',
          ticket: 'JIRA:BENCH-1',
          via: 'cli',
        },
      };
    }
  }

  private kind(): Draw {
    let x = this.rng.next();
    for (const [d, p] of MIX) if ((x -= p) < 0) return d;
    return 'role';
  }

  private pair(draw: Draw): [number, number] | undefined {
    const w = this.world;
    const person = () => 1 + this.rng.int(w.people - 1);
    switch (draw) {
      case 'role': {
        const who = person();
        return [who, this.rng.pick(w.roles.get(peerKey(w.identities[who]!)) ?? [0])];
      }
      case 'sod': {
        const sides = [...this.holders.keys()];
        if (sides.length === 0) return undefined;
        const held = this.rng.pick(sides);
        const who = this.rng.pick(this.holders.get(held)!);
        return [who, this.rng.pick([...w.conflicts.get(held)!])];
      }
      case 'seats':
        return this.licensed.length ? [person(), this.rng.pick(this.licensed)] : undefined;
      case 'any':
        return [person(), this.rng.int(this.ents)];
      case 'nhi': {
        if (w.identities.length === w.people) return undefined;
        const who = w.people + this.rng.int(w.identities.length - w.people);
        const id = w.identities[who]!.owner;
        const owner = Number(id.slice(1, id.indexOf('@')));
        return [who, this.rng.pick(w.roles.get(peerKey(w.identities[owner]!)) ?? [0])];
      }
    }
  }
}
