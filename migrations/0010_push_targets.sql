-- Push targets (推送目标): where notifications go, any number of them, on any channel.
CREATE TABLE push_targets (
    id             BIGSERIAL   PRIMARY KEY,
    name           TEXT        NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    channel        TEXT        NOT NULL
                   CHECK (channel IN ('wecom', 'feishu', 'dingtalk', 'telegram', 'slack', 'discord', 'webhook', 'custom')),
    enabled        BOOLEAN     NOT NULL DEFAULT true,
    -- The channel's settings that are no secret (chatId, apiBaseUrl, template, proxyUrl, …).
    settings       JSONB       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(settings) = 'object'),
    -- The channel's secrets (webhook URL, signing secret, bot token, header values) as one JSON
    -- object sealed under SECRETS_KEY for this row and column (`server/src/platform/encryption.rs`).
    secrets        TEXT        NOT NULL,
    -- scheme://host[:port] of where it sends: what pages, logs and history may show.
    endpoint_host  TEXT        NOT NULL,
    last_test_at   TIMESTAMPTZ,
    last_test_ok   BOOLEAN,
    last_test_error TEXT,
    last_test_latency_ms INTEGER,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Which kinds go to which targets: one kind to many targets, one target for many kinds.
CREATE TABLE push_target_bindings (
    kind       TEXT        NOT NULL CHECK (kind IN ('circuitBreaker', 'dailyLeaderboard', 'costAlert')),
    target_id  BIGINT      NOT NULL REFERENCES push_targets (id) ON DELETE CASCADE,
    enabled    BOOLEAN     NOT NULL DEFAULT true,
    -- The binding the settings' `webhookUrl` of the kind stands for (the specification's one
    -- WeCom URL per kind): at most one per kind.
    from_webhook_url BOOLEAN NOT NULL DEFAULT false,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, target_id)
);
CREATE UNIQUE INDEX push_target_bindings_webhook_url ON push_target_bindings (kind) WHERE from_webhook_url;
CREATE INDEX push_target_bindings_target ON push_target_bindings (target_id);

-- Each outbox row goes to one target. Rows written before targets held their URL in clear;
-- start-up moves those URLs into sealed targets and clears `target_url`
-- (`server/src/channels/targets.rs: adopt_legacy_urls`), and the per-kind URL columns of
-- notification_settings likewise.
ALTER TABLE notification_deliveries
    ADD COLUMN target_id BIGINT REFERENCES push_targets (id) ON DELETE SET NULL,
    ALTER COLUMN target_url DROP NOT NULL;
CREATE INDEX notification_deliveries_target_id ON notification_deliveries (target_id, id DESC);
