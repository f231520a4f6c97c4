import { type Reader, listReader } from '../core/authz.js';
import type { Catalog } from '../core/catalog/catalog.js';
import type { Via } from '../core/model.js';
import type { PageInput } from '../core/paging.js';
import { type CreateCampaignInput, createCampaign } from '../core/reviews/campaigns.js';
import { closeCampaign } from '../core/reviews/close.js';
import { type DecideInput, decideItem } from '../core/reviews/decide.js';
import { campaignView, listCampaigns, listOpenItems, reviewItem } from '../core/reviews/view.js';
import type { Sql } from '../core/sql.js';

/**
 * The access-review use cases, wired for the composition root. Reads take the reader the API
 * authenticated: one who does not read everything sees the campaigns and items they review.
 */
export function reviewUseCases(d: { sql: Sql; now: () => Date; catalog: () => Promise<Catalog> }) {
  return {
    async create(input: CreateCampaignInput) {
      const id = await createCampaign(d.sql, await d.catalog(), d.now(), input);
      return campaignView(d.sql, id);
    },
    list: (page?: PageInput, reader?: Reader) => listCampaigns(d.sql, page, listReader(reader)),
    show: (id: string, page?: PageInput, reader?: Reader) =>
      campaignView(d.sql, id, listReader(reader), page),
    /**
     * Undecided items; `reviewer` narrows to one person's. A reader who does not read everything
     * sees only their own, whatever `reviewer` says.
     */
    openItems: (f: { reviewer?: string }, page?: PageInput, reader?: Reader) => {
      const own = listReader(reader);
      return listOpenItems(d.sql, page, own ?? f.reviewer);
    },
    async decide(input: DecideInput) {
      await decideItem(d.sql, await d.catalog(), d.now(), input);
      return reviewItem(d.sql, input.itemId);
    },
    async close(campaignId: string, actor: string, via: Via) {
      await closeCampaign(d.sql, await d.catalog(), d.now(), { campaignId, actor, via });
      return campaignView(d.sql, campaignId);
    },
  };
}
