-- Every state column holds one of the states the code knows (src/core/model.ts): a typo or a
-- half-written state from any writer is refused by the store, not discovered later by a reader.
-- A state added later (say, a trigger of the ITSM issue) widens its constraint in a new migration.

ALTER TABLE grants ADD CONSTRAINT grants_state_check
  CHECK (state IN ('provisioning', 'active', 'revoking', 'revoked', 'failed', 'revoke_failed'));
ALTER TABLE requests ADD CONSTRAINT requests_status_check
  CHECK (status IN ('pending_approval', 'approved', 'rejected', 'cancelled', 'lapsed'));
ALTER TABLE requests ADD CONSTRAINT requests_kind_check
  CHECK (kind IN ('access', 'extend', 'birthright'));
ALTER TABLE approval_stages ADD CONSTRAINT approval_stages_state_check
  CHECK (state IN ('waiting', 'pending', 'approved', 'rejected', 'lapsed'));
ALTER TABLE approvals ADD CONSTRAINT approvals_verdict_check
  CHECK (verdict IN ('approve', 'reject'));
ALTER TABLE identities ADD CONSTRAINT identities_status_check
  CHECK (status IN ('active', 'suspended', 'terminated'));
ALTER TABLE identities ADD CONSTRAINT identities_kind_check
  CHECK (kind IN ('human', 'service_account', 'api_key', 'workload', 'ai_agent'));
ALTER TABLE jobs ADD CONSTRAINT jobs_state_check
  CHECK (state IN ('pending', 'done', 'failed', 'cancelled'));
