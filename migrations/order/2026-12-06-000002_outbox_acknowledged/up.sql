-- An event is done when every consumer group has handled it, not when Redis took it
-- (issue 23): Redis may lose a stream, or roll it back, before a consumer read it. The relay
-- records where each event went in the stream (`entry_id`), and marks it `acked_at` once
-- every consuming group acknowledged it there (crates/event-bus/src/settle.rs); an event
-- missing from the stream before that is published again. Rows published before this
-- migration have no entry id: they count as acknowledged.
ALTER TABLE outbox ADD COLUMN entry_id text;
ALTER TABLE outbox ADD COLUMN acked_at timestamptz;
UPDATE outbox SET acked_at = published_at WHERE published_at IS NOT NULL;
CREATE INDEX outbox_unacked_idx ON outbox (seq) WHERE published_at IS NOT NULL AND acked_at IS NULL;
-- The daily clean-up of settled rows.
CREATE INDEX outbox_acked_idx ON outbox (acked_at) WHERE acked_at IS NOT NULL;
