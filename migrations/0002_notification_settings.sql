-- 消息推送 settings: a single row (id = 1), created with the spec's defaults on first read.
CREATE TABLE notification_settings (
    id                                SMALLINT PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    enabled                           BOOLEAN     NOT NULL DEFAULT false,
    circuit_breaker_enabled           BOOLEAN     NOT NULL DEFAULT false,
    circuit_breaker_webhook_url       TEXT        CHECK (length(circuit_breaker_webhook_url) <= 512),
    daily_leaderboard_enabled         BOOLEAN     NOT NULL DEFAULT false,
    daily_leaderboard_webhook_url     TEXT        CHECK (length(daily_leaderboard_webhook_url) <= 512),
    daily_leaderboard_time            TEXT        NOT NULL DEFAULT '09:00'
                                      CHECK (daily_leaderboard_time ~ '^([01][0-9]|2[0-3]):[0-5][0-9]$'),
    daily_leaderboard_top_n           INTEGER     NOT NULL DEFAULT 5 CHECK (daily_leaderboard_top_n BETWEEN 1 AND 20),
    cost_alert_enabled                BOOLEAN     NOT NULL DEFAULT false,
    cost_alert_webhook_url            TEXT        CHECK (length(cost_alert_webhook_url) <= 512),
    cost_alert_threshold_percent      INTEGER     NOT NULL DEFAULT 80 CHECK (cost_alert_threshold_percent BETWEEN 50 AND 100),
    cost_alert_check_interval_minutes INTEGER     NOT NULL DEFAULT 60
                                      CHECK (cost_alert_check_interval_minutes BETWEEN 10 AND 1440),
    updated_at                        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_by                        TEXT
);
