import { auditedTransaction } from '../audit/chain.js';
import type { Catalog } from '../catalog/catalog.js';
import { type DecideInput, type DecisionPlan, decide } from '../decision/decide.js';
import { lockFreeIdentities } from '../decision/inputs.js';
import { GatehouseError } from '../errors.js';
import type { Sql } from '../sql.js';
import { type RequestInput, accessDecideInputs, recordGroup, submitRequest } from './submit.js';
import type { RequestView } from './view.js';

/**
 * Submissions through one store handle (a pool), decided together when they arrive together
 * (ADR 0051). Alone, a submission is submitRequest's transaction, unchanged. While GROUPS
 * transactions of submissions are being decided and written, newcomers wait, and the next
 * transaction takes up to GROUP_SIZE of them: their beneficiaries locked by one statement, their facts read by one, each
 * decided here, and every request, stage, grant, job and event written by one, then one commit
 * and one sequencer run.
 */
export interface Submissions {
  submit(catalog: Catalog, now: Date, input: RequestInput): Promise<RequestView>;
}

/**
 * Transactions of submissions being decided and written at once per handle; one more may be
 * committing meanwhile. Measured on the 2-core machine (ADR 0051, its 2026-12-07 revision): one
 * answered the API's load fastest, with no worse p99 at 200/s; whoever arrives while it runs goes
 * in the next, which starts as soon as this one's write is sent, while its COMMIT waits on the
 * WAL's flush.
 */
export const GROUPS = 1;
/** Members of one transaction: more than arrive during one on a busy node. */
const GROUP_SIZE = 16;

interface Member {
  catalog: Catalog;
  now: Date;
  input: RequestInput;
  resolve(view: RequestView): void;
  reject(e: unknown): void;
}

const perHandle = new WeakMap<Sql, Submissions>();

/** The submissions of `sql`, shared by every caller holding the same handle. */
export function submissions(sql: Sql): Submissions {
  let s = perHandle.get(sql);
  if (!s) perHandle.set(sql, (s = submissionsOf(sql)));
  return s;
}

function submissionsOf(sql: Sql): Submissions {
  const waiting: Member[] = [];
  /** Transactions not yet past their write. */
  let building = 0;
  /** Transactions not yet committed. */
  let open = 0;
  const pump = () => {
    while (building < GROUPS && open <= GROUPS && waiting.length > 0) {
      const group = nextGroup(waiting);
      building++;
      open++;
      let released = false;
      const written = () => {
        if (released) return;
        released = true;
        building--;
        pump();
      };
      void submitGroup(sql, group, written).finally(() => {
        open--;
        written();
        pump();
      });
    }
  };
  return {
    submit: (catalog, now, input) =>
      new Promise<RequestView>((resolve, reject) => {
        const m = { catalog, now, input, resolve, reject };
        // Break-glass opens its review after the grant: a transaction of its own, as before.
        if (input.emergency) void alone(sql, m);
        else {
          waiting.push(m);
          pump();
        }
      }),
  };
}

/**
 * The first GROUP_SIZE waiting, in order, each beneficiary once (a member's facts are read before
 * any member is recorded) and at most one whose entitlement is counted in seats (a transaction
 * holds at most one licence pool's lock, as a lone submission does, so two groups cannot each
 * hold a pool the other waits for). The others keep their place for the next group.
 */
function nextGroup(waiting: Member[]): Member[] {
  const group: Member[] = [];
  const beneficiaries = new Set<string>();
  let pooled = false;
  for (let i = 0; i < waiting.length && group.length < GROUP_SIZE;) {
    const m = waiting[i]!;
    const seats = Boolean(m.catalog.entitlements.get(m.input.entitlement)?.licenceTier);
    if ((seats && pooled) || beneficiaries.has(m.input.beneficiary)) {
      i++;
      continue;
    }
    pooled ||= seats;
    beneficiaries.add(m.input.beneficiary);
    group.push(m);
    waiting.splice(i, 1);
  }
  return group;
}

const alone = (sql: Sql, m: Member, written?: () => void): Promise<void> =>
  submitRequest(sql, m.catalog, m.now, m.input, written).then(m.resolve, m.reject);

/** The group's write found a request it could not insert: each is submitted alone instead. */
class NotAllInserted extends Error {}

/**
 * One transaction for the group. A member refused before anything is written (unknown
 * entitlement or requester, a requester who may not ask, a stale catalog: the errors a lone
 * submission gives before its first write) is answered at once and the others go on. A member
 * whose beneficiary another transaction holds, or that no row names, is submitted alone, outside
 * the group's slot (it waits there, or is told the identity is unknown). Any other failure up to
 * and including the write (a value the store refuses, say) rolls the group back and every member
 * not yet answered is submitted alone, so one member's fault is never another's answer. A failing
 * COMMIT, whose outcome may then be unknown, is the answer of every member written, as it would
 * be of a lone submission.
 */
async function submitGroup(sql: Sql, group: Member[], written: () => void): Promise<void> {
  if (group.length === 1) return alone(sql, group[0]!, written);
  const answered = new Set<Member>();
  const elsewhere: Member[] = [];
  /** Members whose requests the group's write went in with: theirs is the COMMIT's outcome. */
  let writing: Member[] = [];
  let views: RequestView[] = [];
  try {
    await auditedTransaction(sql, async (tx) => {
      const locked = await lockFreeIdentities(
        tx,
        group.map((m) => m.input.beneficiary),
      );
      const mine = group.filter((m) => locked.has(m.input.beneficiary));
      elsewhere.push(...group.filter((m) => !locked.has(m.input.beneficiary)));
      const decided: { m: Member; input: DecideInput; plan: DecisionPlan }[] = [];
      for (const [m, input] of await decideInputs(tx, mine)) {
        if (input instanceof GatehouseError) {
          answered.add(m);
          m.reject(input);
          continue;
        }
        try {
          decided.push({ m, input, plan: await decide(tx, m.catalog, m.now, input) });
        } catch (e) {
          // Thrown by the decision's own checks, never by the store: the transaction is intact.
          if (!(e instanceof GatehouseError)) throw e;
          answered.add(m);
          m.reject(e);
        }
      }
      if (decided.length === 0) return;
      const rows = await recordGroup(
        tx,
        decided.map((d) => ({ catalog: d.m.catalog, now: d.m.now, input: d.input, plan: d.plan })),
      );
      if (!rows) throw new NotAllInserted();
      writing = decided.map((d) => d.m);
      views = rows;
      written();
    });
  } catch (e) {
    // Once written, only the COMMIT can have failed; before, the group rolled back.
    for (const m of writing) m.reject(e);
    for (const m of group)
      if (!answered.has(m) && !writing.includes(m) && !elsewhere.includes(m)) void alone(sql, m);
    for (const m of elsewhere) void alone(sql, m);
    return;
  }
  writing.forEach((m, i) => m.resolve(views[i]!));
  for (const m of elsewhere) void alone(sql, m);
}

/** Each member's decision input, or its refusal; members of one catalog read together. */
async function decideInputs(
  tx: Sql,
  members: readonly Member[],
): Promise<[Member, DecideInput | GatehouseError][]> {
  const byCatalog = new Map<Catalog, Member[]>();
  for (const m of members) byCatalog.set(m.catalog, [...(byCatalog.get(m.catalog) ?? []), m]);
  const out = new Map<Member, DecideInput | GatehouseError>();
  for (const [catalog, ms] of byCatalog) {
    const inputs = await accessDecideInputs(
      tx,
      catalog,
      ms.map((m) => m.input),
    );
    ms.forEach((m, i) => out.set(m, inputs[i]!));
  }
  return members.map((m) => [m, out.get(m)!]);
}
