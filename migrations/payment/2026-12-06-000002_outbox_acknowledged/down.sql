DROP INDEX outbox_acked_idx;
DROP INDEX outbox_unacked_idx;
ALTER TABLE outbox DROP COLUMN acked_at;
ALTER TABLE outbox DROP COLUMN entry_id;
