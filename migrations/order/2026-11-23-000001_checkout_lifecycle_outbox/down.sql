DROP TABLE outbox;
DROP TABLE checkout_attempts;
DROP TABLE order_status_history;
DROP INDEX orders_status_newest_idx;
DROP INDEX orders_newest_idx;
DROP INDEX orders_expiry_idx;
ALTER TABLE orders
    DROP COLUMN expires_at, DROP COLUMN paid_at, DROP COLUMN cancelled_at,
    DROP COLUMN cancel_reason, DROP COLUMN shipping_address, DROP COLUMN note;
DROP SEQUENCE order_number_seq;
