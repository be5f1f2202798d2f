-- filter.brandIds, and the products of one brand. Built without blocking writes (outside a
-- transaction: metadata.toml).
CREATE INDEX CONCURRENTLY IF NOT EXISTS products_brand_idx ON products (brand_id)
    WHERE brand_id IS NOT NULL;
