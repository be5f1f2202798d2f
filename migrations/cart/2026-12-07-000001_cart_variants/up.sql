-- Cart lines name a variant (SKU) of their product (catalog v2): what is priced and stocked.
-- A cart may hold several variants of one product, one line each, so the key becomes the
-- variant. Every product that existed before variants has exactly one, whose id is the
-- product's own (the catalog's migration), so existing lines name it without asking the
-- catalog.
--
-- The table's lock is held from the first statement to the commit (the backfill and the
-- new key take a few seconds per million lines): give up rather than queue every cart read
-- behind a long transaction (the next start retries).
SET LOCAL lock_timeout = '5s';

ALTER TABLE cart_items ADD COLUMN variant_id uuid;
UPDATE cart_items SET variant_id = product_id;
ALTER TABLE cart_items
    ALTER COLUMN variant_id SET NOT NULL,
    DROP CONSTRAINT cart_items_pkey,
    ADD PRIMARY KEY (cart_id, variant_id);

-- A cart replica that does not know variants yet (a rolling deploy) inserts lines without
-- one: they mean the product's only variant, which for the products it can know has the
-- product's id.
CREATE FUNCTION cart_items_default_variant() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.variant_id := coalesce(NEW.variant_id, NEW.product_id);
    RETURN NEW;
END
$$;
CREATE TRIGGER cart_items_default_variant BEFORE INSERT ON cart_items
    FOR EACH ROW WHEN (NEW.variant_id IS NULL) EXECUTE FUNCTION cart_items_default_variant();
