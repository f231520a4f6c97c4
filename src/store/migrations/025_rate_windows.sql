-- Request counts of the current rate-limit window, one row per limited key (a client address or a
-- hash of a presented token), shared by every `serve` node on this store (ADR 0036). Unlogged:
-- a count lost in a crash only forgives one window, and no request waits on WAL for it. A row
-- is overwritten when its key's next window starts; ended windows are deleted by the nodes.
CREATE UNLOGGED TABLE rate_windows (
  key text PRIMARY KEY,
  window_start timestamptz NOT NULL,
  hits integer NOT NULL
);
