import { ROLE_FIT_SQL } from '../../core/decision/inputs.js';
import { type Scenario, RssWatch, pct, round, timeEach } from '../suite/measure.js';
import { RequestDrawer } from './draw.js';

/**
 * The role-fit score alone: how many of the beneficiary's peers (ADR 0031: a person's share
 * department and title, a non-human identity's share kind and owner) hold the entitlement. The
 * statement is loadFacts' own role-fit part (`ROLE_FIT_SQL`, core/decision/inputs.ts), prepared
 * as loadFacts' statement is. Baseline: one primary-key look-up of the same identity, the
 * cheapest read a decision makes.
 */
export const roleFitScenario: Scenario = {
  name: 'role-fit',
  usesWorld: true,
  async run({ profile, world, store, say }) {
    const drawer = new RequestDrawer(world, 202, false);
    const n = profile.roleFitSamples;
    const inputs = Array.from({ length: n + 200 }, () => drawer.next().input);
    const peers: number[] = [];
    const watch = new RssWatch();
    const xs = await timeEach(n, async (i) => {
      const [r] = await store.sql.query<{ fit: { peers: number } }>(ROLE_FIT_SQL, [
        inputs[i]!.beneficiary,
        inputs[i]!.entitlement,
      ]);
      if (i < n) peers.push(Number(r?.fit.peers ?? 0));
    });
    const rss = watch.stop();
    const base = await timeEach(n, (i) =>
      store.sql.query('SELECT * FROM identities WHERE id = $1', [inputs[i]!.beneficiary]),
    );
    const p99 = pct(xs, 99);
    const baseP99 = pct(base, 99);
    say(
      `role-fit: ${n} scores p50 ${pct(xs, 50).toFixed(3)} ms p99 ${p99.toFixed(3)} ms ` +
        `(peer groups p50 ${pct(peers, 50)} max ${Math.max(...peers)}); identity look-up p99 ${baseP99.toFixed(3)} ms`,
    );
    return {
      'role-fit': {
        value: round(p99),
        unit: 'ms p99',
        baseline: round(baseP99),
        baseline_of: 'one identity primary-key look-up p99',
        ratio: round(p99 / baseP99, 2),
        target: 'p99 <= 1 ms',
        pass: p99 <= 1,
        peak_rss_mb: rss.peak_mb,
        detail: {
          samples: n,
          p50_ms: round(pct(xs, 50)),
          baseline_p50_ms: round(pct(base, 50)),
          peers_p50: pct(peers, 50),
          peers_max: Math.max(...peers),
        },
      },
    };
  },
};
