-- Outcomes the circuit breakers have not seen: written when Redis (where the breakers live) did
-- not answer at ingest, and replayed in request order once it does, so an outage delays a
-- breaker's transition and its alert but loses neither. Empty in normal operation.
CREATE TABLE breaker_backlog (
    request_id  TEXT        PRIMARY KEY,
    provider_id BIGINT      NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX breaker_backlog_order ON breaker_backlog (provider_id, created_at, request_id);
