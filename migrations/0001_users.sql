-- Users as the gateway knows them (its integer ids). API keys are stored only as SHA-256 hashes.
CREATE TABLE users (
    id           BIGINT PRIMARY KEY,
    name         TEXT        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    role         TEXT        NOT NULL DEFAULT 'user' CHECK (role IN ('admin', 'user')),
    api_key_hash BYTEA       UNIQUE CHECK (api_key_hash IS NULL OR length(api_key_hash) = 32),
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
