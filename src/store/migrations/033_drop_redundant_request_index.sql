-- requests_status (status, created_at), from 001, is the first two columns of
-- requests_status_page (status, created_at, id), from 006: every search the one serves, the other
-- serves as well, and every request written or moved to another status paid for both.
DROP INDEX requests_status;
