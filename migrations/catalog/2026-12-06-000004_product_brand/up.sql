-- A product's brand (catalog v2); none for the products that existed before brands. Adding a
-- nullable column without a default touches no row, but takes the table's lock: give up
-- rather than queue every catalog read behind a long transaction (the next start retries).
SET LOCAL lock_timeout = '5s';
ALTER TABLE products ADD COLUMN brand_id uuid REFERENCES brands (id);
