DROP TRIGGER order_items_default_variant ON order_items;
DROP FUNCTION order_items_default_variant();
ALTER TABLE order_items
    DROP COLUMN options,
    DROP COLUMN variant_name,
    DROP COLUMN sku,
    DROP COLUMN variant_id;
