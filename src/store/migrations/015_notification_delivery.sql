-- Delivering the notifications outbox (issue 6, ADR 0020). A notification is due on the channels
-- configured when it was written (email, chat); each channel's job adds itself to delivered_on,
-- and the row is delivered once every channel has. A row due on no channel is undeliverable, and
-- stays visible as such in `report`. details holds what the message says as structured fields,
-- so that an email, a chat message, the API and the UI each render it their own way.
ALTER TABLE notifications
  ADD COLUMN details jsonb NOT NULL DEFAULT '{}'::jsonb,
  ADD COLUMN channels text[] NOT NULL DEFAULT '{}'::text[],
  ADD COLUMN delivered_on text[] NOT NULL DEFAULT '{}'::text[],
  ADD COLUMN attempts integer NOT NULL DEFAULT 0,
  ADD COLUMN last_error text,
  ADD COLUMN failed_at timestamptz;
-- Rows written before delivery existed were due on no channel: they are left as they are.
-- A delivery job reads the undelivered rows of one recipient, by index.
CREATE INDEX notifications_recipient_undelivered ON notifications (recipient, created_at)
  WHERE delivered_at IS NULL;
