-- The web UI's lists at enterprise size (issue 12, ADR 0035). Who-has-what filtered by an
-- entitlement, and a person's view of the grants they may see (their own, those they own, their
-- apps'), are keyset pages like the others (migration 006): an equality filter followed by the
-- whole key, so a page is a range read of the index however many grants match or the table holds.
CREATE INDEX grants_entitlement_page ON grants (entitlement, created_at, id);
CREATE INDEX grants_owner_page ON grants (owner, created_at, id);
