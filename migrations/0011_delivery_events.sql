-- Each delivery keeps its message's facts beside its markdown: the event type, its time and its
-- data (`server/src/channels/message.rs`), which the signed-webhook event and custom templates
-- are made of. Rows written before this have none and are known by kind and time alone.
ALTER TABLE notification_deliveries ADD COLUMN event JSONB;
