-- Stock held for orders. Checkout reserves all lines of an order or none; the reservation is
-- released when the order is cancelled or expires, or when its checkout was abandoned (the
-- order subgraph died before creating the order). Both happen in ONE statement each
-- (`SELECT * FROM reserve_stock(...)`, `release_stock(...)`), so a checkout costs the
-- catalog one round trip and no client-side transaction.
CREATE TABLE stock_reservations (
    order_id       uuid PRIMARY KEY,
    status         text NOT NULL CHECK (status IN ('RESERVED', 'RELEASED')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    released_at    timestamptz,
    release_reason text
);

-- What was reserved, with the name and price the order snapshots.
CREATE TABLE stock_reservation_lines (
    order_id     uuid NOT NULL REFERENCES stock_reservations (order_id),
    product_id   uuid NOT NULL REFERENCES products (id),
    quantity     integer NOT NULL CHECK (quantity > 0),
    product_name text NOT NULL,
    unit_price   bigint NOT NULL,
    currency     text NOT NULL,
    PRIMARY KEY (order_id, product_id)
);

-- Which order a stock change was for.
ALTER TABLE stock_ledger ADD COLUMN order_id uuid;

-- Reserves `p_quantities[i]` units of `p_products[i]` (distinct ids) for order `p_order`,
-- all or none. Returns one row per line:
--   RESERVED   reserved now (with the product row after the change, for the cache)
--   EXISTING   this order already holds this reservation (a retry): its lines
--   RELEASED   the order's checkout was abandoned: nothing can be reserved for it any more
--   NOT_FOUND / INACTIVE / INSUFFICIENT   one failing line (nothing reserved)
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
