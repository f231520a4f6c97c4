import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { type AuditEvent, bodyHash, eventBody } from '../../core/audit/chain.js';
import { verifyAudit } from '../../core/audit/verify.js';
import { csvField } from '../generate/write-config.js';
import { type Scenario, RssWatch, round } from '../suite/measure.js';
import { benchStore, checkpoint } from '../suite/store.js';

/**
 * `audit verify` over a long chain, loaded in bulk as a valid chain built with the real chain
 * code's hashing (eventBody, bodyHash) and its stored body, as appendAudit writes it, on a store
 * of its own. Baseline: node:crypto SHA-256 over the same
 * bytes the verifier hashes, in the same process. Verified twice, at a quarter of the length and
 * at the full length: the peak RSS above the start of each pass should not grow with the chain.
 * On a server each pass starts after a CHECKPOINT, so it is not measured beside the writing of
 * what the load just wrote (a store whose events came over months has none of that pending).
 */
const CHUNK = 50_000;
const ACTIONS = [
  'request.submitted',
  'request.decided',
  'approval.recorded',
  'grant.activated',
  'grant.expired',
  'grant.revoked',
  'identity.joined',
] as const;
const COLUMNS = [
  'seq',
  'at',
  'actor',
  'action',
  'subject',
  'details',
  'refs',
  'prev_hash',
  'hash',
  'body',
];

export const auditVerifyScenario: Scenario = {
  name: 'audit-verify',
  usesWorld: false,
  async run({ profile, say }) {
    const store = await benchStore('audit');
    try {
      const [head] = await store.sql.query<{ seq: string | number; hash: string }>(
        'SELECT seq, hash FROM audit_head WHERE id = 1',
      );
      let prev = { seq: Number(head!.seq), hash: head!.hash };
      const t0 = Date.parse('2026-01-01T00:00:00Z');
      let hashMs = 0;
      let hashedBytes = 0;
      const passes: {
        events: number;
        ms: number;
        checkpoint_ms: number;
        peak_mb: number;
        start_mb: number;
        rss_growth_mb: number;
      }[] = [];
      const total = profile.auditEvents;
      const quarter = Math.max(1, Math.floor(total / 4));
      let loaded = 0;
      const loadT = performance.now();
      for (const upTo of [quarter, total]) {
        while (loaded < upTo) {
          const n = Math.min(CHUNK, upTo - loaded);
          const lines: string[] = [];
          const bodies: string[] = [];
          for (let k = 0; k < n; k++) {
            const seq = prev.seq + 1;
            const subject = `req_b${seq % 100_003}`;
            const e: Omit<AuditEvent, 'hash'> = {
              seq,
              at: new Date(t0 + seq * 50).toISOString(),
              actor: `p${seq % 9973}@bench.test`,
              action: ACTIONS[seq % ACTIONS.length]!,
              subject,
              details: {
                via: 'cli',
                entitlement: `app${String(seq % 200).padStart(3, '0')}:reader`,
                n: seq % 97,
              },
              refs: [subject, `grt_b${seq % 50_021}`],
              prev_hash: prev.hash,
            };
            // As appendAudit writes an event: the hashed body stored beside the columns.
            const body = eventBody(e);
            const hash = bodyHash(e.prev_hash, body);
            bodies.push(`${e.prev_hash}\n${body}`);
            lines.push(
              [
                seq,
                e.at,
                e.actor,
                e.action,
                e.subject,
                JSON.stringify(e.details),
                `{${e.refs.join(',')}}`,
                e.prev_hash,
                hash,
                body,
              ]
                .map(csvField)
                .join(','),
            );
            prev = { seq, hash };
          }
          // The baseline: the same bytes through node:crypto, nothing else (no parsing, no reads).
          const th = performance.now();
          for (const b of bodies) {
            createHash('sha256').update(b).digest('hex');
            hashedBytes += b.length;
          }
          hashMs += performance.now() - th;
          await store.copy('audit_events', COLUMNS, lines);
          loaded += n;
        }
        await store.sql.query('UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1', [
          prev.seq,
          prev.hash,
        ]);
        // What the bulk load left for the server to write (gigabytes of WAL, dirty pages) is
        // written now, not by a checkpoint spread over the verify being measured (on this
        // machine: 13.2 s after a CHECKPOINT, 13.5-17.8 s with the load's checkpoint beside it).
        const checkpointMs = await checkpoint(store);
        say(
          `audit-verify: ${loaded} events loaded (${((performance.now() - loadT) / 1000).toFixed(1)} s so far), verifying`,
        );
        const watch = new RssWatch();
        const t = performance.now();
        const r = await verifyAudit(store.sql);
        const ms = performance.now() - t;
        const rss = watch.stop();
        if (!r.ok) throw new Error(`audit-verify: the loaded chain does not verify: ${r.reason}`);
        passes.push({
          events: r.events,
          ms,
          checkpoint_ms: round(checkpointMs, 0),
          ...rss,
          rss_growth_mb: round(rss.peak_mb - rss.start_mb, 1),
        });
      }
      const full = passes[passes.length - 1]!;
      const rate = (full.events / full.ms) * 1000;
      const baseRate = (loaded / hashMs) * 1000;
      const growthQ = passes[0]!.rss_growth_mb;
      const flat = full.rss_growth_mb <= Math.max(growthQ * 1.5, growthQ + 64);
      say(
        `audit-verify: ${full.events} events verified in ${(full.ms / 1000).toFixed(1)} s = ${rate.toFixed(0)}/s; ` +
          `baseline SHA-256 over the same bytes ${baseRate.toFixed(0)}/s; ratio ${((rate / baseRate) * 100).toFixed(1)} %; ` +
          `RSS growth ${growthQ} MiB at ${passes[0]!.events}, ${full.rss_growth_mb} MiB at ${full.events}`,
      );
      return {
        'audit-verify': {
          value: round(rate, 0),
          unit: 'events/s',
          baseline: round(baseRate, 0),
          baseline_of: 'node:crypto SHA-256 over the same bytes',
          ratio: round(rate / baseRate, 3),
          target: '>= 50 % of baseline; peak RSS flat in chain length',
          pass: rate / baseRate >= 0.5 && flat,
          peak_rss_mb: full.peak_mb,
          detail: {
            events: full.events,
            seconds: round(full.ms / 1000, 2),
            hashed_mb: round(hashedBytes / 1048576, 1),
            passes: passes.map((p) => ({ ...p, ms: round(p.ms, 0) })),
            rss_flat: flat,
          },
        },
      };
    } finally {
      await store.close();
    }
  },
};
