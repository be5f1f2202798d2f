DROP FUNCTION reserve_stock(uuid, uuid[], integer[]);
DROP FUNCTION reserve_stock(uuid, uuid[], uuid[], integer[]);
DROP FUNCTION release_stock(uuid, text);
DROP FUNCTION resolve_stock_lines(uuid[], uuid[], integer[]);
ALTER TABLE flash_sale_purchases DROP COLUMN variant_id, DROP COLUMN sku,
    DROP COLUMN variant_name, DROP COLUMN options;
ALTER TABLE flash_sales DROP COLUMN variant_id;
-- One line per product again: the kept line carries the units of all its variants.
UPDATE stock_reservation_lines l
   SET quantity = t.quantity
  FROM (SELECT order_id, product_id, min(variant_id::text)::uuid AS kept,
               sum(quantity)::integer AS quantity
          FROM stock_reservation_lines GROUP BY order_id, product_id
        HAVING count(*) > 1) t
 WHERE l.order_id = t.order_id AND l.variant_id = t.kept;
DELETE FROM stock_reservation_lines a USING stock_reservation_lines b
 WHERE a.order_id = b.order_id AND a.product_id = b.product_id AND a.variant_id > b.variant_id;
ALTER TABLE stock_reservation_lines DROP CONSTRAINT stock_reservation_lines_pkey,
    DROP COLUMN variant_id, DROP COLUMN sku, DROP COLUMN variant_name, DROP COLUMN options,
    ADD PRIMARY KEY (order_id, product_id);
ALTER TABLE stock_ledger DROP COLUMN variant_id;
DROP TABLE product_variants;
DROP TABLE product_options;
DROP FUNCTION default_sku(uuid);
DROP FUNCTION variant_name(jsonb, text);
CREATE FUNCTION reserve_stock(p_order uuid, p_products uuid[], p_quantities integer[])
RETURNS TABLE (outcome text, product_id uuid, quantity integer, available integer,
               product_name text, unit_price bigint, currency text, product jsonb)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    existing text;
    bad record;
BEGIN
    -- Lock the products in id order: checkouts with overlapping lines queue in one order
    -- and cannot deadlock, whatever order their lines are in.
    PERFORM 1 FROM products p WHERE p.id = ANY (p_products) ORDER BY p.id FOR UPDATE;

    -- Claim the order id; a retry or a racing twin finds the first claim (it waits here
    -- until that claim commits or rolls back).
    INSERT INTO stock_reservations (order_id, status) VALUES (p_order, 'RESERVED')
    ON CONFLICT (order_id) DO NOTHING;
    IF NOT FOUND THEN
        SELECT r.status INTO existing FROM stock_reservations r WHERE r.order_id = p_order;
        IF existing = 'RESERVED' THEN
            RETURN QUERY SELECT 'EXISTING'::text, l.product_id, l.quantity, NULL::integer,
                                l.product_name, l.unit_price, l.currency, NULL::jsonb
                         FROM stock_reservation_lines l WHERE l.order_id = p_order;
        ELSE
            RETURN QUERY SELECT 'RELEASED'::text, NULL::uuid, NULL::integer, NULL::integer,
                                NULL::text, NULL::bigint, NULL::text, NULL::jsonb;
        END IF;
        RETURN;
    END IF;

    -- Every line must be on sale with enough stock; report the first that is not.
    SELECT w.product_id, w.quantity, p.id IS NULL AS missing, p.status,
           coalesce(p.stock, 0) AS stock
      INTO bad
      FROM unnest(p_products, p_quantities) AS w (product_id, quantity)
      LEFT JOIN products p ON p.id = w.product_id
     WHERE p.id IS NULL OR p.status <> 'ACTIVE' OR p.stock < w.quantity
     ORDER BY p.id IS NULL DESC, p.status <> 'ACTIVE' DESC
     LIMIT 1;
    IF FOUND THEN
        -- Nothing was reserved: leave no claim behind, so that the same order id may try
        -- again later.
        DELETE FROM stock_reservations r WHERE r.order_id = p_order;
        RETURN QUERY SELECT CASE WHEN bad.missing THEN 'NOT_FOUND'
                                 WHEN bad.status <> 'ACTIVE' THEN 'INACTIVE'
                                 ELSE 'INSUFFICIENT' END,
                            bad.product_id, bad.quantity, bad.stock,
                            NULL::text, NULL::bigint, NULL::text, NULL::jsonb;
        RETURN;
    END IF;

    RETURN QUERY
    WITH wanted AS (
        SELECT * FROM unnest(p_products, p_quantities) AS w (product_id, quantity)
    ), changed AS (
        UPDATE products p
           SET stock = p.stock - w.quantity,
               sales_count = p.sales_count + w.quantity,
               version = p.version + 1,
               updated_at = now()
          FROM wanted w
         WHERE p.id = w.product_id
        RETURNING p.*, w.quantity AS reserved
    ), ledger AS (
        INSERT INTO stock_ledger (product_id, delta, stock_after, reason, order_id)
        SELECT c.id, -c.reserved, c.stock, 'reserved for an order', p_order FROM changed c
    ), lines AS (
        INSERT INTO stock_reservation_lines
            (order_id, product_id, quantity, product_name, unit_price, currency)
        SELECT p_order, c.id, c.reserved, c.name, c.price_amount, c.currency FROM changed c
    )
    SELECT 'RESERVED'::text, c.id, c.reserved, c.stock, c.name, c.price_amount, c.currency,
           to_jsonb(c) - 'search_document' - 'reserved'
      FROM changed c;
END
$$;

-- Releases the stock reserved for `p_order`, once: a second call changes nothing. When
-- nothing was reserved it leaves a RELEASED claim, so that a checkout still under way for
-- that order can no longer reserve. Returns the changed product rows (for the cache).
CREATE FUNCTION release_stock(p_order uuid, p_reason text)
RETURNS TABLE (product jsonb)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    -- Products first, in id order, as reserve_stock does: no deadlock between the two.
    PERFORM 1 FROM products p
     WHERE p.id IN (SELECT l.product_id FROM stock_reservation_lines l WHERE l.order_id = p_order)
     ORDER BY p.id FOR UPDATE;

    INSERT INTO stock_reservations (order_id, status, released_at, release_reason)
    VALUES (p_order, 'RELEASED', now(), p_reason)
    ON CONFLICT (order_id) DO NOTHING;
    IF FOUND THEN
        RETURN;
    END IF;
    UPDATE stock_reservations r
       SET status = 'RELEASED', released_at = now(), release_reason = p_reason
     WHERE r.order_id = p_order AND r.status = 'RESERVED';
    IF NOT FOUND THEN
        RETURN;
    END IF;

    RETURN QUERY
    WITH changed AS (
        UPDATE products p
           SET stock = p.stock + l.quantity,
               sales_count = greatest(p.sales_count - l.quantity, 0),
               version = p.version + 1,
               updated_at = now()
          FROM stock_reservation_lines l
         WHERE l.order_id = p_order AND p.id = l.product_id
        RETURNING p.*, l.quantity AS released
    ), ledger AS (
        INSERT INTO stock_ledger (product_id, delta, stock_after, reason, order_id)
        SELECT c.id, c.released, c.stock, left('released: ' || p_reason, 200), p_order
          FROM changed c
    )
    SELECT to_jsonb(c) - 'search_document' - 'released' FROM changed c;
END
$$;
