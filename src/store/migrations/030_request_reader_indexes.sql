-- A reader who does not read everything sees the requests they made, the ones for them, and the
-- ones they approve at any stage (core/authz.ts). With no index on any of the three, a person's
-- request list walked every request in creation order and checked each against a scan of every
-- approval stage: 0.4-0.5 s a page at 120,000 requests, growing with the table (ADR 0046).
-- The first two are also the beneficiary and requester filters' page indexes (migration 006).
CREATE INDEX requests_requester_page ON requests (requester, created_at, id);
CREATE INDEX requests_beneficiary_page ON requests (beneficiary, created_at, id);
-- Every stage's approvers, past ones included; approval_stages_pending stays for the inbox, where
-- the pending stages of a long-serving approver are a few among thousands.
CREATE INDEX approval_stages_approvers ON approval_stages USING gin (approvers);

-- The ids of the requests a reader may see, as three index probes. A function, so that its plan
-- holds whatever the statistics say: on those of a store loaded since its last ANALYZE the
-- planner scanned every stage instead of probing the GIN index, or ran the three probes in
-- parallel workers whose start-up (~60 ms here) dwarfed the probes (2 ms). ROWS says what a person
-- typically has, so the caller fetches each request by its key and sorts the few.
CREATE FUNCTION requests_visible_to(reader text) RETURNS SETOF text
  LANGUAGE sql STABLE ROWS 20
  SET enable_seqscan = off SET max_parallel_workers_per_gather = 0 AS $$
    SELECT id FROM requests WHERE requester = reader
    UNION SELECT id FROM requests WHERE beneficiary = reader
    UNION SELECT request_id FROM approval_stages WHERE approvers @> ARRAY[reader]
$$;
