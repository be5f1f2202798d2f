-- Keyset pagination for every storefront sort, over visible products only.
CREATE INDEX products_active_price_idx ON products (price_amount, id) WHERE status = 'ACTIVE';
CREATE INDEX products_active_best_selling_idx ON products (sales_count DESC, id DESC) WHERE status = 'ACTIVE';
