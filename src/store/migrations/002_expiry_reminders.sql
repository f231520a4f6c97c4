-- Expiry reminders (PRODUCT.md §4): owners and beneficiaries are told before expiry and can
-- answer "let it expire" to stop the reminders.

-- last_reminder_at is what makes each threshold remind once, however often sweep runs.
ALTER TABLE grants
  ADD COLUMN let_expire boolean NOT NULL DEFAULT false,
  ADD COLUMN let_expire_by text,
  ADD COLUMN last_reminder_at timestamptz;
-- sweep looks for reminders due in a range of expires_at, by index, never by scanning all grants.
CREATE INDEX grants_remind ON grants (expires_at) WHERE state = 'active' AND NOT let_expire;

-- An outbox of what must be told to whom. Gatehouse records it in the transaction that decided
-- it; delivering it (mail, chat) is a notifier's job, which sets delivered_at.
CREATE TABLE notifications (
  id text PRIMARY KEY,
  kind text NOT NULL, -- expiry_reminder
  grant_id text,
  recipient text NOT NULL,
  subject text NOT NULL,
  body text NOT NULL,
  created_at timestamptz NOT NULL,
  delivered_at timestamptz
);
CREATE INDEX notifications_undelivered ON notifications (created_at) WHERE delivered_at IS NULL;
