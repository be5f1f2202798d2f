DROP INDEX checkout_attempts_stock_to_return_idx;
DROP INDEX orders_stock_to_return_idx;
ALTER TABLE checkout_attempts DROP COLUMN stock_returned_at;
ALTER TABLE orders DROP COLUMN stock_returned_at;
