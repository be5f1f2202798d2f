ALTER TABLE products DROP COLUMN brand_id;
