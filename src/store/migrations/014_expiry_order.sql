-- Expiry takes due grants in (expires_at, id) order, a batch at a time. With both this index and
-- grants_expiry_page (expires_at, id) on active grants, a planner working from statistics taken
-- when the table was small may pick this one, which gives only expires_at order: when a burst of
-- grants is due at one instant it then sorts the whole burst for every batch of 500 (measured on
-- PGlite: 130 ms a batch at 20,000 due, growing with the burst). grants_expiry_page serves every
-- query this one did.
DROP INDEX grants_expiry;

-- Reminders take grants in the same (expires_at, id) order, a batch at a time: the same reason.
DROP INDEX grants_remind;
CREATE INDEX grants_remind ON grants (expires_at, id) WHERE state = 'active' AND NOT let_expire;

-- A job's row is updated in place several times while it is pending (leased, its lease renewed,
-- retried) without touching an indexed column. Room left on each page lets those updates stay on
-- the page (HOT) instead of adding an entry to each of the queue's indexes every time.
ALTER TABLE jobs SET (fillfactor = 70);
