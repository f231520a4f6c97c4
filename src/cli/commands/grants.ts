import type { FailureReport } from '../../core/jobs/runtime.js';
import { parseDuration } from '../../core/duration.js';
import { PAGE_OPTIONS, PAGE_USAGE, need, pageArgs, positional, str } from '../args.js';
import { type Command, actor } from '../command.js';
import { formatGrants, paged } from '../format.js';

export const grants: Command = {
  name: 'grants',
  usage: `grants [--identity ID] [--app APP] [--state S] [--expiring-within 7d] ${PAGE_USAGE}`,
  summary:
    'the live entitlement record, a page at a time (soonest expiry first with --expiring-within)',
  options: {
    identity: { type: 'string' },
    app: { type: 'string' },
    state: { type: 'string' },
    'expiring-within': { type: 'string' },
    ...PAGE_OPTIONS,
  },
  async run(r) {
    const within = str(r.args, 'expiring-within');
    const page = await r.app.grants(
      {
        ...(str(r.args, 'identity') ? { identity: str(r.args, 'identity') } : {}),
        ...(str(r.args, 'app') ? { app: str(r.args, 'app') } : {}),
        ...(str(r.args, 'state') ? { state: str(r.args, 'state') } : {}),
        ...(within ? { expiringWithin: parseDuration(within, '--expiring-within') } : {}),
      },
      pageArgs(r.args),
    );
    return {
      json: page,
      text: paged(formatGrants(page.grants), page.grants.length, page.next_cursor),
    };
  },
};

export const revoke: Command = {
  name: 'revoke',
  usage: 'revoke GRANT --reason TEXT --as ID',
  summary: 'revoke now (trigger manual); removal is verified by the next sweep',
  options: { reason: { type: 'string' } },
  async run(r) {
    const g = await r.app.revoke(
      positional(r.args, 1, 'GRANT: the grant to revoke'),
      actor(r, 'revoke'),
      need(r.args, 'reason', 'say why the grant is revoked'),
      'cli',
    );
    return { json: g, text: formatGrants([g]) };
  },
};

export const letExpire: Command = {
  name: 'let-expire',
  usage: 'let-expire GRANT --as ID',
  summary: 'answer an expiry reminder: no more reminders, the grant expires as planned',
  async run(r) {
    const g = await r.app.letExpire(
      positional(r.args, 1, 'GRANT: the grant to let expire'),
      actor(r, 'let-expire'),
      'cli',
    );
    return { json: g, text: formatGrants([g]) };
  },
};

export const grantsRetry: Command = {
  name: 'grants retry',
  usage: 'grants retry GRANT --as ID',
  summary: 're-queue the apply of a failed grant (holder, its owner or manager, or the requester)',
  async run(r) {
    const g = await r.app.retry(
      positional(r.args, 2, 'GRANT: the failed grant to provision again'),
      actor(r, 'grants retry'),
      'cli',
    );
    return { json: g, text: formatGrants([g]) };
  },
};

export const grantsCredential: Command = {
  name: 'grants credential',
  usage: 'grants credential GRANT --as ID',
  summary:
    "issue a new credential for a non-human identity's account (its owner only); printed once, never stored",
  async run(r) {
    const { credential: c, secret } = await r.app.issueCredential(
      positional(r.args, 2, 'GRANT: the grant whose account receives the credential'),
      actor(r, 'grants credential'),
      'cli',
    );
    return {
      json: { credential: c, secret },
      text: [
        `credential ${c.id} for ${c.account} on ${c.connector} (grant ${c.grant}), fingerprint ${c.fingerprint}`,
        `valid until ${c.valid_until}; rotate by ${c.rotate_by}; any earlier credential of this account no longer works`,
        `secret (shown once, stored nowhere): ${secret}`,
      ].join('\n'),
    };
  },
};

/** One line per failed attempt: what, where, which attempt, and whether and when it is retried. */
export function failureLines(failures: FailureReport[]): string[] {
  return failures.map((f) => {
    const what = `${f.kind.replace('grant.', '')} ${f.subject ?? ''} on ${f.queue}`;
    return f.final
      ? `failed: ${what} (attempt ${f.attempts}, not retried): ${f.error}`
      : `retrying: ${what} (attempt ${f.attempts}, next at ${f.next_attempt_at}): ${f.error}`;
  });
}

export const sweep: Command = {
  name: 'sweep',
  usage: 'sweep',
  summary: 'run every due job now: provisioning and retries, expiries, reminders, lapses',
  async run(r) {
    const result = await r.app.sweep();
    // Failures go where people look: one line each on stderr, and exit 3 if a target failed.
    for (const line of failureLines(result.failures)) r.io.stderr(line);
    return {
      json: result,
      text: `expired ${result.expired}, reminded ${result.reminded}, lapsed ${result.lapsed}, review campaigns opened ${result.reviews_opened} and closed ${result.reviews_closed}, review items defaulted ${result.review_items_defaulted}, target jobs done ${result.jobs_done}, failed attempts ${result.jobs_failed}`,
      ...(result.failures.length > 0 ? { exitCode: 3 } : {}),
    };
  },
};
