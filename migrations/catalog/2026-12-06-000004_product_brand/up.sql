-- A product's brand (catalog v2); none for the products that existed before brands.
ALTER TABLE products ADD COLUMN brand_id uuid REFERENCES brands (id);
-- filter.brandIds, and the products of one brand.
CREATE INDEX products_brand_idx ON products (brand_id) WHERE brand_id IS NOT NULL;
