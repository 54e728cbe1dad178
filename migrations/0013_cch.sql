-- Where a source that Hub Notify reads (rather than one that sends) stands: Claude Code Hub's
-- database is tailed by one instance at a time (`holder`, fencing out a previous holder whose
-- lease ran out), from `position` (the source's own), and how the last poll went, for every
-- instance's 数据来源 page and API.
CREATE TABLE source_cursors (
    source        TEXT        PRIMARY KEY,
    holder        TEXT,
    position      JSONB       NOT NULL,
    polled_at     TIMESTAMPTZ,
    lag_seconds   DOUBLE PRECISION,
    last_error    TEXT,
    last_error_at TIMESTAMPTZ,
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Events of a source read again whose values changed since (a CCH request's cost written after its
-- status), per minute beside the others.
ALTER TABLE source_activity ADD COLUMN revised BIGINT NOT NULL DEFAULT 0;

-- Users and providers a gateway keeps (Claude Code Hub's: names, quotas, breaker settings, disabled
-- flags, soft deletes) are mirrored at every poll; `synced_at` marks such a row: its settings are
-- the gateway's, read-only here. A disabled or deleted one keeps its usage but gets no cost alert.
ALTER TABLE users
    ADD COLUMN enabled    BOOLEAN NOT NULL DEFAULT true,
    ADD COLUMN deleted_at TIMESTAMPTZ,
    ADD COLUMN synced_at  TIMESTAMPTZ;
ALTER TABLE providers
    ADD COLUMN enabled    BOOLEAN NOT NULL DEFAULT true,
    ADD COLUMN deleted_at TIMESTAMPTZ,
    ADD COLUMN synced_at  TIMESTAMPTZ;
