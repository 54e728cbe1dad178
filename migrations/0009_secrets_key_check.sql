-- Which SECRETS_KEY seals this database's secrets: one row holding a value sealed under it,
-- which start-up opens. A start-up with another key fails at once, naming both key ids, instead
-- of every secret failing later (`server/src/platform/encryption.rs: check_key`).
CREATE TABLE secrets_key_check (
    id         SMALLINT    PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    key_id     TEXT        NOT NULL,
    sealed     TEXT        NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
