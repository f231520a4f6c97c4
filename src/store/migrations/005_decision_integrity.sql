-- Decisions that hold under concurrency (issue 7): one live request per beneficiary and
-- entitlement, enforced by the store as the last line behind the beneficiary's row lock.

-- A store that already lost the race keeps the oldest live request of each pair; the later ones
-- are closed as cancelled, saying why in their decision record.
UPDATE requests r
   SET status = 'cancelled',
       closed_at = now(),
       decision = jsonb_set(r.decision, '{reasons}', (r.decision -> 'reasons') || jsonb_build_array(jsonb_build_object(
         'code', 'duplicate',
         'message', 'closed by migration 005: another live request for the same beneficiary and entitlement is older')))
 WHERE r.status = 'pending_approval'
   AND EXISTS (SELECT 1 FROM requests o
                WHERE o.beneficiary = r.beneficiary AND o.entitlement = r.entitlement
                  AND o.status = 'pending_approval' AND (o.created_at, o.id) < (r.created_at, r.id));

DROP INDEX requests_pending;
CREATE UNIQUE INDEX requests_one_live ON requests (beneficiary, entitlement) WHERE status = 'pending_approval';
