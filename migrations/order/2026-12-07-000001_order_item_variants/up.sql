-- Variants (catalog v2): an order line is of one variant (SKU) of a product, and keeps the
-- variant's SKU, name and option values as they were at purchase time, like it keeps the
-- product's name and price. `options` is JSON text ([{"name": "Color", "value": "Red"}]),
-- as `orders.shipping_address` is: read back whole, never queried inside.
--
-- Lines bought before variants were of their product's only variant, which the catalog's
-- migration made with the product's own id and the SKU 'SKU-' || the id's hex digits in
-- upper case (peer_api::default_sku): the same values here, without reading the catalog.
ALTER TABLE order_items
    ADD COLUMN variant_id   uuid,
    ADD COLUMN sku          text,
    ADD COLUMN variant_name text,
    ADD COLUMN options      text NOT NULL DEFAULT '[]'
        CHECK (jsonb_typeof(options::jsonb) = 'array');
UPDATE order_items
   SET variant_id = product_id,
       sku = 'SKU-' || upper(replace(product_id::text, '-', '')),
       variant_name = product_name;
ALTER TABLE order_items
    ALTER COLUMN variant_id SET NOT NULL,
    ALTER COLUMN sku SET NOT NULL,
    ALTER COLUMN variant_name SET NOT NULL;

-- An order replica that predates variants (a rolling deploy) inserts lines without them:
-- they are of the product's only variant, as above.
CREATE FUNCTION order_items_default_variant() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.variant_id := coalesce(NEW.variant_id, NEW.product_id);
    NEW.sku := coalesce(NEW.sku, 'SKU-' || upper(replace(NEW.product_id::text, '-', '')));
    NEW.variant_name := coalesce(NEW.variant_name, NEW.product_name);
    RETURN NEW;
END
$$;
CREATE TRIGGER order_items_default_variant BEFORE INSERT ON order_items FOR EACH ROW
    WHEN (NEW.variant_id IS NULL OR NEW.sku IS NULL OR NEW.variant_name IS NULL)
    EXECUTE FUNCTION order_items_default_variant();
