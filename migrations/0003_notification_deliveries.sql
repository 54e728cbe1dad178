-- The outbox: every notification is written here first, then enqueued in Redis. A row follows its
-- job (pending → sending → delivered | failed); pending rows that never reached Redis are swept in.
CREATE TABLE notification_deliveries (
    id           BIGSERIAL PRIMARY KEY,
    kind         TEXT        NOT NULL CHECK (kind IN ('circuitBreaker', 'dailyLeaderboard', 'costAlert')),
    -- The full webhook URL (its key is a secret: never shown, never returned).
    target_url   TEXT        NOT NULL,
    -- scheme://host[:port] of target_url: what history may show.
    target_host  TEXT        NOT NULL,
    content      TEXT        NOT NULL,
    -- The notification's idempotency key: one row, one delivery per key.
    dedup_key    TEXT        NOT NULL UNIQUE CHECK (length(dedup_key) BETWEEN 1 AND 200),
    status       TEXT        NOT NULL DEFAULT 'pending'
                             CHECK (status IN ('pending', 'sending', 'delivered', 'failed')),
    attempts     INTEGER     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error   TEXT,
    -- When the job last reached Redis; NULL = not yet (Redis was unreachable).
    enqueued_at  TIMESTAMPTZ,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    delivered_at TIMESTAMPTZ
);

-- History filters, newest first.
CREATE INDEX notification_deliveries_kind_id ON notification_deliveries (kind, id DESC);
CREATE INDEX notification_deliveries_status_id ON notification_deliveries (status, id DESC);
-- The sweeper's and metrics' view: unfinished rows only.
CREATE INDEX notification_deliveries_unfinished ON notification_deliveries (updated_at)
    WHERE status IN ('pending', 'sending');
