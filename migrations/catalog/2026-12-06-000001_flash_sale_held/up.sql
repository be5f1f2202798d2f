-- PostgreSQL's own bound on a flash sale (issue 23): Redis admits purchases, but Redis may
-- forget or roll back (an older snapshot), so the recording transaction checks what the
-- record says before it writes. `held` is the units of the sale's purchases not given back,
-- changed in the transaction that records or gives one back; the sale's row lock orders
-- them, so at most `total_quantity` are ever held, whatever Redis admitted.
ALTER TABLE flash_sales ADD COLUMN held integer NOT NULL DEFAULT 0;
UPDATE flash_sales s
SET held = coalesce((SELECT sum(p.quantity) FROM flash_sale_purchases p
                     WHERE p.sale_id = s.id AND p.returned_at IS NULL), 0);
-- No CHECK constraint: a sale already oversold by the bug this fixes would make the
-- migration, or every later give-back of that sale, fail; the recording statement's own
-- condition is the bound.
COMMENT ON COLUMN flash_sales.held IS
    'Units of its purchases not given back: never above total_quantity';
