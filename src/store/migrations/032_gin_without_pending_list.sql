-- GIN indexes without a pending list (ADR 0050). With fastupdate on, PostgreSQL's default, a GIN
-- index queues new entries in a pending list that every search of it reads through, and the
-- insert that takes the list past gin_pending_list_limit (4 MB, some 40,000 rows of two keys)
-- merges the whole list into the index before it returns: measured here, that one insert took
-- 395-444 ms against 0.25 ms for the others. audit_refs takes those inserts in the sequencer,
-- under the audit head's lock, so every writer waited with it. Autovacuum would empty the list in
-- the background, but only after a fifth of the table has been inserted, which on a table of
-- millions of events comes long after the list is full.
ALTER INDEX audit_refs SET (fastupdate = off);
ALTER INDEX approval_stages_pending SET (fastupdate = off);
ALTER INDEX approval_stages_approvers SET (fastupdate = off);
ALTER INDEX review_items_reviewers SET (fastupdate = off);

-- What a list already holds goes into its index now, not at a later writer's expense.
SELECT gin_clean_pending_list(i)
  FROM unnest(ARRAY['audit_refs', 'approval_stages_pending', 'approval_stages_approvers',
                    'review_items_reviewers']::regclass[]) AS i;
