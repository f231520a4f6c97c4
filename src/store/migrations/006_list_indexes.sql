-- Lists are read one keyset page at a time: WHERE filter AND (key) > (cursor) ORDER BY key
-- LIMIT n. Each index below is a list's equality filter followed by its whole key, so a page is a
-- range read of the index, whatever the size of the table and whatever the statistics say: the
-- planner has no cheaper plan to flip to. The key ends with the primary key to be unique.

-- grants, in creation order: unfiltered, by holder, by app, by state, by app and state.
CREATE INDEX grants_page ON grants (created_at, id);
CREATE INDEX grants_identity_page ON grants (identity, created_at, id);
CREATE INDEX grants_app_page ON grants (app, created_at, id);
CREATE INDEX grants_state_page ON grants (state, created_at, id);
CREATE INDEX grants_app_state_page ON grants (app, state, created_at, id);
-- grants --expiring-within: active grants, soonest expiry first (10,000 due at one instant are
-- still ordered by the index, not sorted per page).
CREATE INDEX grants_expiry_page ON grants (expires_at, id) WHERE state = 'active';

-- requests, in creation order: unfiltered and by status. With an approver the GIN index on the
-- approvers of pending stages finds the few that wait on that person.
CREATE INDEX requests_page ON requests (created_at, id);
CREATE INDEX requests_status_page ON requests (status, created_at, id);

-- identities are paged on their primary key.
