import { parseDecision, parseInstant } from '../../core/reviews/campaigns.js';
import type { CampaignSummary, CampaignView, ItemView } from '../../core/reviews/view.js';
import { PAGE_OPTIONS, PAGE_USAGE, need, pageArgs, positional, str } from '../args.js';
import { type Command, actor } from '../command.js';
import { paged, table } from '../format.js';

function formatItems(items: ItemView[]): string {
  return table(
    items.map((i) => ({
      ...i,
      reviewer: `${i.reviewer ?? 'nobody'}${i.routed ? ` (${i.routed})` : ''}`,
      decision: i.decision
        ? `${i.decision}${i.applied ? ' (default)' : ` by ${i.decided_by}`}`
        : 'open',
      grant: i.grant ?? '-',
      entitlement: i.entitlement ?? '-',
    })),
    ['id', 'identity', 'entitlement', 'grant', 'reviewer', 'decision'],
  );
}

function formatCampaign(c: CampaignSummary): string {
  return `${c.id} ${c.name}: ${c.status}, due ${c.due}, default ${c.default}, reviewer ${c.reviewer}, scope ${c.scope} — ${c.counts.decided} of ${c.counts.items} items decided`;
}

const show = (c: CampaignView) => `${formatCampaign(c)}\n${formatItems(c.items)}`;

export const reviewCreate: Command = {
  name: 'review create',
  usage:
    'review create --name N --scope SCOPE --due DATE [--reviewer manager|app_owner|owner|group:NAME] [--default certify|revoke] [--as ID]',
  summary: 'open an access-review campaign over the active grants in SCOPE (app=erp,risk=high,…)',
  options: {
    name: { type: 'string' },
    scope: { type: 'string' },
    due: { type: 'string' },
    reviewer: { type: 'string' },
    default: { type: 'string' },
  },
  async run(r) {
    const c = await r.app.reviews.create({
      name: need(r.args, 'name', 'what the campaign is called'),
      scope: need(r.args, 'scope', 'which grants to review, e.g. app=erp,risk=high'),
      due: parseInstant(need(r.args, 'due', 'when undecided items take the default'), 'due'),
      reviewer: str(r.args, 'reviewer'),
      default: str(r.args, 'default'),
      actor: str(r.args, 'as') ?? 'operator',
      via: 'cli',
    });
    return { json: c, text: paged(show(c), c.items.length, c.next_cursor) };
  },
};

export const reviewList: Command = {
  name: 'review list',
  usage: `review list ${PAGE_USAGE}`,
  summary: 'access-review campaigns, newest first',
  options: { ...PAGE_OPTIONS },
  async run(r) {
    const page = await r.app.reviews.list(pageArgs(r.args));
    return {
      json: page,
      text: paged(
        page.campaigns.map(formatCampaign).join('\n') || 'no review campaigns',
        page.campaigns.length,
        page.next_cursor,
      ),
    };
  },
};

export const reviewItems: Command = {
  name: 'review items',
  usage: `review items [--reviewer ID] ${PAGE_USAGE}`,
  summary: 'undecided review items (campaign and standalone), oldest first; --reviewer: theirs',
  options: { reviewer: { type: 'string' }, ...PAGE_OPTIONS },
  async run(r) {
    const reviewer = str(r.args, 'reviewer');
    const page = await r.app.reviews.openItems(reviewer ? { reviewer } : {}, pageArgs(r.args));
    return {
      json: page,
      text: paged(formatItems(page.items), page.items.length, page.next_cursor),
    };
  },
};

export const reviewShow: Command = {
  name: 'review show',
  usage: `review show C ${PAGE_USAGE}`,
  summary: 'one campaign with a page of its items, their reviewers and decisions',
  options: { ...PAGE_OPTIONS },
  async run(r) {
    const c = await r.app.reviews.show(
      positional(r.args, 2, 'C: the campaign (rev_…)'),
      pageArgs(r.args),
    );
    return { json: c, text: paged(show(c), c.items.length, c.next_cursor) };
  },
};

export const reviewDecide: Command = {
  name: 'review decide',
  usage: 'review decide ITEM certify|revoke [--expires DATE] [--comment TEXT] --as ID',
  summary:
    'decide a review item as its reviewer: certify (keep, optionally until a new expiry) or revoke',
  options: { expires: { type: 'string' }, comment: { type: 'string' } },
  async run(r) {
    const itemId = positional(r.args, 2, 'ITEM: the review item (itm_…)');
    const decision = parseDecision(
      positional(r.args, 3, 'certify or revoke: the decision'),
      'decision',
    );
    const expires = str(r.args, 'expires');
    const item = await r.app.reviews.decide({
      itemId,
      actor: actor(r, 'review decide'),
      decision,
      expires: expires === undefined ? undefined : parseInstant(expires, 'expires'),
      comment: str(r.args, 'comment') ?? '',
      via: 'cli',
    });
    return { json: item, text: formatItems([item]) };
  },
};

export const reviewClose: Command = {
  name: 'review close',
  usage: 'review close C [--as ID]',
  summary: 'apply the default to undecided items and close the campaign',
  async run(r) {
    const c = await r.app.reviews.close(
      positional(r.args, 2, 'C: the campaign (rev_…)'),
      str(r.args, 'as') ?? 'operator',
      'cli',
    );
    return { json: c, text: paged(show(c), c.items.length, c.next_cursor) };
  },
};
