-- A request withdrawn by its requester or beneficiary (`cancel`) closes its open approval stages
-- as `cancelled`, so a view of it never shows a stage still pending on someone.

ALTER TABLE approval_stages DROP CONSTRAINT approval_stages_state_check;
ALTER TABLE approval_stages ADD CONSTRAINT approval_stages_state_check
  CHECK (state IN ('waiting', 'pending', 'approved', 'rejected', 'lapsed', 'cancelled'));
