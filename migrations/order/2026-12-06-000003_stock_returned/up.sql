-- When the catalog confirmed that a closed order's stock (or flash-sale units) is back:
-- the stock reconciler (issue 23) asks it once for every order closed without payment,
-- refunded, or whose checkout was abandoned, whatever became of their events.
ALTER TABLE orders ADD COLUMN stock_returned_at timestamptz;
ALTER TABLE checkout_attempts ADD COLUMN stock_returned_at timestamptz;
CREATE INDEX orders_stock_to_return_idx ON orders (created_at)
    WHERE status IN ('CANCELLED', 'EXPIRED', 'REFUNDED') AND stock_returned_at IS NULL;
CREATE INDEX checkout_attempts_stock_to_return_idx ON checkout_attempts (created_at)
    WHERE state = 'ABANDONED' AND stock_returned_at IS NULL;
