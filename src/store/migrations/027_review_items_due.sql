-- Undecided standalone review items by due date: the runtime gives those past it their default
-- (ADR 0038) without walking every open item.
CREATE INDEX review_items_standalone_due ON review_items (due_at, id)
  WHERE decision IS NULL AND campaign_id IS NULL;
