import { performance } from 'node:perf_hooks';
import type { Identity } from '../../core/model.js';
import { identitiesCsv } from '../generate/write-config.js';
import { Rng } from '../generate/rng.js';
import { DEPARTMENTS } from '../generate/world.js';
import { benchApp } from '../suite/app.js';
import { type Scenario, RssWatch, round } from '../suite/measure.js';

/**
 * The HR feed: the people snapshot with 2 % movers (new department and title) and 1 % leavers,
 * through `sync` (movers' grants re-evaluated, leavers' revoked and their non-human identities
 * handed on, all in one transaction). Baseline: COPY of the same CSV into a table of its own.
 */
export const syncScenario: Scenario = {
  name: 'sync',
  usesWorld: true,
  async run({ profile, world, store, say }) {
    const rng = new Rng(404);
    const protectedIds = new Set([
      ...world.groups.flatMap((g) => g.members),
      ...world.apps.map((a) => a.owner),
      world.identities[0]!.id,
    ]);
    let movers = 0;
    let leavers = 0;
    const snapshot: Identity[] = world.identities.slice(0, world.people).map((p) => {
      if (protectedIds.has(p.id)) return p;
      const x = rng.next();
      if (x < profile.leavers) {
        leavers++;
        return { ...p, status: 'terminated' };
      }
      if (x < profile.leavers + profile.movers) {
        movers++;
        const department = DEPARTMENTS.filter((d) => d !== p.department)[
          rng.int(DEPARTMENTS.length - 1)
        ]!;
        return { ...p, department, title: rng.pick(['analyst', 'senior', 'lead']) };
      }
      return p;
    });
    const app = benchApp(store.sql);
    await app.catalog();
    const watch = new RssWatch();
    const t = performance.now();
    const r = await app.sync(snapshot, 'bench:hr-feed', ['human']);
    const ms = performance.now() - t;
    const rss = watch.stop();

    const csv = identitiesCsv(snapshot);
    await store.sql.query(
      `CREATE TABLE bench_sync_baseline (id text, kind text, status text, display_name text, department text,
         title text, manager text, owner text, employment_type text, location text)`,
    );
    const lines = csv.split('\n').slice(1, -1);
    const tb = performance.now();
    await store.copy(
      'bench_sync_baseline',
      [
        'id',
        'kind',
        'status',
        'display_name',
        'department',
        'title',
        'manager',
        'owner',
        'employment_type',
        'location',
      ],
      lines,
    );
    const baseMs = performance.now() - tb;
    say(
      `sync: ${snapshot.length} people (${movers} movers, ${leavers} leavers) in ${(ms / 1000).toFixed(1)} s: ` +
        `moved ${r.moved.length}, left ${r.left.length}, revoked ${r.revoked.length}, reassigned ${r.reassigned.length}, ` +
        `unchanged ${r.unchanged}; baseline COPY of the CSV ${(baseMs / 1000).toFixed(2)} s`,
    );
    return {
      sync: {
        value: round(ms / 1000, 2),
        unit: 's',
        baseline: round(baseMs / 1000, 3),
        baseline_of: 'COPY of the same CSV into a plain table',
        ratio: round(ms / baseMs, 1),
        target: '< 60 s',
        pass: ms < 60_000,
        peak_rss_mb: rss.peak_mb,
        detail: {
          people: snapshot.length,
          movers: r.moved.length,
          leavers: r.left.length,
          revoked: r.revoked.length,
          sent_to_review: r.sent_to_review.length,
          reassigned: r.reassigned.length,
          unchanged: r.unchanged,
        },
      },
    };
  },
};
