-- Variants (SKU): what is stocked, priced and bought (catalog v2). A product keeps its
-- price (the lowest active variant's), stock (the sum) and sales count as summaries,
-- written in the same statement as the variants, so listings and the product cache read
-- one row as before. Every statement that changes a variant's stock locks its product
-- first (products before variants, products in id order): no deadlock, no lost update.
--
-- Each product that existed before variants gets exactly one, with the product's own id,
-- price and stock (no picture of its own: it shows the product's), and a SKU made from
-- that id. The same id and SKU are what the cart's and order's migrations give their
-- existing lines, so the subgraphs' schemas migrate without reading each other.
--
-- Upgrading: stop the catalog replicas that predate variants before this runs (no rolling
-- deploy across it). Only reserve_stock/release_stock keep their old signatures; an old
-- replica's own stock writes (adjustStock, flash sales) would change a product and not its
-- variant. Then the cart and order subgraphs (their lines name variants; an order replica
-- expects the variant's snapshot in the catalog's reservations).

-- The sales options of a product, e.g. Color: red, blue (in display order).
CREATE TABLE product_options (
    product_id uuid NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    position   int NOT NULL CHECK (position >= 0),
    name       text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 50),
    "values"   text[] NOT NULL CHECK (cardinality("values") BETWEEN 1 AND 100),
    PRIMARY KEY (product_id, position)
);
CREATE UNIQUE INDEX product_options_name_key ON product_options (product_id, lower(name));

CREATE TABLE product_variants (
    id           uuid PRIMARY KEY,
    product_id   uuid NOT NULL REFERENCES products (id),
    position     int NOT NULL DEFAULT 0,
    sku          text NOT NULL CHECK (length(btrim(sku)) BETWEEN 1 AND 64),
    -- [{"name": "Color", "value": "Red"}, ...] in the product's option order.
    options      jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(options) = 'array'),
    price_amount bigint NOT NULL CHECK (price_amount >= 0),
    stock        integer NOT NULL DEFAULT 0 CHECK (stock >= 0),
    image_url    text,
    status       text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('DRAFT', 'ACTIVE', 'ARCHIVED')),
    version      bigint NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX product_variants_product_idx ON product_variants (product_id, position, id);
-- SKU codes are unique whatever their case.
CREATE UNIQUE INDEX product_variants_sku_key ON product_variants (upper(sku));
-- No two variants of a product with the same option values (case-insensitively).
CREATE UNIQUE INDEX product_variants_options_key
    ON product_variants (product_id, lower(options::text));
-- The price filter: a product matches when one of its active variants does.
CREATE INDEX product_variants_active_price_idx ON product_variants (price_amount, product_id)
    WHERE status = 'ACTIVE';
-- Attribute filters and facets over the options: options @> '[{"name":..,"value":..}]'.
CREATE INDEX product_variants_options_idx ON product_variants USING gin (options jsonb_path_ops);

-- "Red / M"; the product's name when the variant has no options.
CREATE FUNCTION variant_name(options jsonb, product_name text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce((SELECT string_agg(o.value ->> 'value', ' / ' ORDER BY o.n)
                       FROM jsonb_array_elements(options) WITH ORDINALITY AS o (value, n)),
                    product_name)
$$;

-- The SKU given to a product's first variant when it was made from the product itself.
CREATE FUNCTION default_sku(product_id uuid) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT 'SKU-' || upper(replace(product_id::text, '-', ''))
$$;

INSERT INTO product_variants (id, product_id, sku, price_amount, stock, image_url, status,
                              created_at, updated_at)
SELECT p.id, p.id, default_sku(p.id), p.price_amount, p.stock, NULL,
       CASE WHEN p.status = 'ARCHIVED' THEN 'ARCHIVED' ELSE 'ACTIVE' END,
       p.created_at, p.updated_at
  FROM products p;

-- What points at a product's stock now points at one of its variants.
ALTER TABLE stock_ledger ADD COLUMN variant_id uuid;
UPDATE stock_ledger SET variant_id = product_id;
ALTER TABLE stock_ledger ALTER COLUMN variant_id SET NOT NULL,
    ADD FOREIGN KEY (variant_id) REFERENCES product_variants (id);
CREATE INDEX stock_ledger_variant_idx ON stock_ledger (variant_id, id);

ALTER TABLE stock_reservation_lines
    ADD COLUMN variant_id uuid,
    ADD COLUMN sku text,
    ADD COLUMN variant_name text,
    ADD COLUMN options jsonb NOT NULL DEFAULT '[]';
UPDATE stock_reservation_lines
   SET variant_id = product_id, sku = default_sku(product_id), variant_name = product_name;
ALTER TABLE stock_reservation_lines
    ALTER COLUMN variant_id SET NOT NULL,
    ALTER COLUMN sku SET NOT NULL,
    ALTER COLUMN variant_name SET NOT NULL,
    ADD FOREIGN KEY (variant_id) REFERENCES product_variants (id),
    DROP CONSTRAINT stock_reservation_lines_pkey,
    ADD PRIMARY KEY (order_id, variant_id);

ALTER TABLE flash_sales ADD COLUMN variant_id uuid;
UPDATE flash_sales SET variant_id = product_id;
ALTER TABLE flash_sales ALTER COLUMN variant_id SET NOT NULL,
    ADD FOREIGN KEY (variant_id) REFERENCES product_variants (id);

ALTER TABLE flash_sale_purchases
    ADD COLUMN variant_id uuid,
    ADD COLUMN sku text,
    ADD COLUMN variant_name text,
    ADD COLUMN options jsonb NOT NULL DEFAULT '[]';
UPDATE flash_sale_purchases
   SET variant_id = product_id, sku = default_sku(product_id), variant_name = product_name;
ALTER TABLE flash_sale_purchases
    ALTER COLUMN variant_id SET NOT NULL,
    ALTER COLUMN sku SET NOT NULL,
    ALTER COLUMN variant_name SET NOT NULL;

-- The lines of a checkout, resolved to variants and summed per variant, each with what
-- is wrong with it (NULL when nothing): `productId` alone means the product's only
-- variant.
CREATE FUNCTION resolve_stock_lines(p_products uuid[], p_variants uuid[], p_quantities integer[])
RETURNS TABLE (product_id uuid, variant_id uuid, quantity integer, problem text,
               available integer)
LANGUAGE sql STABLE AS $$
    WITH wanted AS (
        SELECT w.product_id, w.variant_id AS given, w.quantity
          FROM unnest(p_products, p_variants, p_quantities) AS w (product_id, variant_id, quantity)
    ), resolved AS (
        SELECT w.product_id, w.given, w.quantity, p.id AS known, p.status AS product_status,
               coalesce(w.given, CASE WHEN sole.n = 1 THEN sole.id END) AS variant_id,
               sole.n AS variants
          FROM wanted w
          LEFT JOIN products p ON p.id = w.product_id
          LEFT JOIN LATERAL (
              SELECT (array_agg(v.id))[1] AS id, count(*) AS n
                FROM product_variants v WHERE v.product_id = w.product_id
          ) sole ON true
    ), summed AS (
        SELECT r.product_id, r.variant_id, sum(r.quantity)::integer AS quantity,
               bool_and(r.known IS NOT NULL) AS known, min(r.product_status) AS product_status,
               bool_or(r.given IS NULL AND r.variants > 1) AS ambiguous
          FROM resolved r
         GROUP BY r.product_id, r.variant_id
    )
    SELECT s.product_id, s.variant_id, s.quantity,
           CASE WHEN NOT s.known THEN 'NOT_FOUND'
                WHEN s.ambiguous THEN 'VARIANT_REQUIRED'
                WHEN v.id IS NULL THEN 'VARIANT_NOT_FOUND'
                WHEN v.product_id <> s.product_id THEN 'FOREIGN_VARIANT'
                WHEN s.product_status <> 'ACTIVE' OR v.status <> 'ACTIVE' THEN 'INACTIVE'
                WHEN v.stock < s.quantity THEN 'INSUFFICIENT'
           END,
           coalesce(v.stock, 0)
      FROM summed s
      LEFT JOIN product_variants v ON v.id = s.variant_id
$$;

DROP FUNCTION reserve_stock(uuid, uuid[], integer[]);
CREATE FUNCTION reserve_stock(p_order uuid, p_products uuid[], p_variants uuid[],
                              p_quantities integer[])
RETURNS TABLE (outcome text, product_id uuid, quantity integer, available integer,
               product_name text, unit_price bigint, currency text, product jsonb,
               variant_id uuid, sku text, variant_name text, options jsonb)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    existing text;
    bad record;
BEGIN
    -- Lock the products in id order: checkouts with overlapping lines queue in one order
    -- and cannot deadlock, whatever order their lines are in. Their variants change only
    -- under these locks.
    PERFORM 1 FROM products p WHERE p.id = ANY (p_products) ORDER BY p.id FOR UPDATE;

    -- Claim the order id; a retry or a racing twin finds the first claim (it waits here
    -- until that claim commits or rolls back).
    INSERT INTO stock_reservations (order_id, status) VALUES (p_order, 'RESERVED')
    ON CONFLICT (order_id) DO NOTHING;
    IF NOT FOUND THEN
        SELECT r.status INTO existing FROM stock_reservations r WHERE r.order_id = p_order;
        IF existing = 'RESERVED' THEN
            RETURN QUERY SELECT 'EXISTING'::text, l.product_id, l.quantity, NULL::integer,
                                l.product_name, l.unit_price, l.currency, NULL::jsonb,
                                l.variant_id, l.sku, l.variant_name, l.options
                         FROM stock_reservation_lines l WHERE l.order_id = p_order;
        ELSE
            RETURN QUERY SELECT 'RELEASED'::text, NULL::uuid, NULL::integer, NULL::integer,
                                NULL::text, NULL::bigint, NULL::text, NULL::jsonb,
                                NULL::uuid, NULL::text, NULL::text, NULL::jsonb;
        END IF;
        RETURN;
    END IF;

    -- Every line must name a variant on sale with enough stock; report the first that
    -- does not (unknown or ambiguous before unavailable before short).
    SELECT * INTO bad
      FROM resolve_stock_lines(p_products, p_variants, p_quantities) r
     WHERE r.problem IS NOT NULL
     ORDER BY array_position(ARRAY['NOT_FOUND', 'VARIANT_REQUIRED', 'VARIANT_NOT_FOUND',
                                   'FOREIGN_VARIANT', 'INACTIVE', 'INSUFFICIENT'], r.problem)
     LIMIT 1;
    IF FOUND THEN
        -- Nothing was reserved: leave no claim behind, so that the same order id may try
        -- again later.
        DELETE FROM stock_reservations r WHERE r.order_id = p_order;
        RETURN QUERY SELECT bad.problem, bad.product_id, bad.quantity, bad.available,
                            NULL::text, NULL::bigint, NULL::text, NULL::jsonb,
                            bad.variant_id, NULL::text, NULL::text, NULL::jsonb;
        RETURN;
    END IF;

    RETURN QUERY
    WITH wanted AS (
        SELECT r.product_id, r.variant_id, r.quantity
          FROM resolve_stock_lines(p_products, p_variants, p_quantities) r
    ), variants AS (
        UPDATE product_variants v
           SET stock = v.stock - w.quantity,
               version = v.version + 1,
               updated_at = now()
          FROM wanted w
         WHERE v.id = w.variant_id
        RETURNING v.*, w.quantity AS reserved
    ), changed AS (
        UPDATE products p
           SET stock = p.stock - t.quantity,
               sales_count = p.sales_count + t.quantity,
               version = p.version + 1,
               updated_at = now()
          FROM (SELECT w.product_id, sum(w.quantity)::integer AS quantity
                  FROM wanted w GROUP BY w.product_id) t
         WHERE p.id = t.product_id
        RETURNING p.*
    ), ledger AS (
        INSERT INTO stock_ledger (product_id, variant_id, delta, stock_after, reason, order_id)
        SELECT v.product_id, v.id, -v.reserved, v.stock, 'reserved for an order', p_order
          FROM variants v
    ), lines AS (
        INSERT INTO stock_reservation_lines
            (order_id, product_id, variant_id, quantity, product_name, unit_price, currency,
             sku, variant_name, options)
        SELECT p_order, v.product_id, v.id, v.reserved, c.name, v.price_amount, c.currency,
               v.sku, variant_name(v.options, c.name), v.options
          FROM variants v JOIN changed c ON c.id = v.product_id
    )
    SELECT 'RESERVED'::text, v.product_id, v.reserved, v.stock, c.name, v.price_amount,
           c.currency, to_jsonb(c) - 'search_document', v.id, v.sku,
           variant_name(v.options, c.name), v.options
      FROM variants v JOIN changed c ON c.id = v.product_id;
END
$$;

-- The version-1 signature, for a catalog replica that does not know variants yet (a
-- rolling deploy): its lines mean each product's only variant.
CREATE FUNCTION reserve_stock(p_order uuid, p_products uuid[], p_quantities integer[])
RETURNS TABLE (outcome text, product_id uuid, quantity integer, available integer,
               product_name text, unit_price bigint, currency text, product jsonb,
               variant_id uuid, sku text, variant_name text, options jsonb)
LANGUAGE sql AS $$
    SELECT * FROM reserve_stock(p_order, p_products,
                                array_fill(NULL::uuid, ARRAY[cardinality(p_products)]),
                                p_quantities)
$$;

CREATE OR REPLACE FUNCTION release_stock(p_order uuid, p_reason text)
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
    -- Again: when the reservation was still being made as this began (its claim not yet
    -- committed), the first lock found no lines; this statement sees them.
    PERFORM 1 FROM products p
     WHERE p.id IN (SELECT l.product_id FROM stock_reservation_lines l WHERE l.order_id = p_order)
     ORDER BY p.id FOR UPDATE;

    RETURN QUERY
    WITH variants AS (
        UPDATE product_variants v
           SET stock = v.stock + l.quantity,
               version = v.version + 1,
               updated_at = now()
          FROM stock_reservation_lines l
         WHERE l.order_id = p_order AND v.id = l.variant_id
        RETURNING v.*, l.quantity AS released
    ), changed AS (
        UPDATE products p
           SET stock = p.stock + t.quantity,
               sales_count = greatest(p.sales_count - t.quantity, 0),
               version = p.version + 1,
               updated_at = now()
          FROM (SELECT l.product_id, sum(l.quantity)::integer AS quantity
                  FROM stock_reservation_lines l WHERE l.order_id = p_order
                 GROUP BY l.product_id) t
         WHERE p.id = t.product_id
        RETURNING p.*
    ), ledger AS (
        INSERT INTO stock_ledger (product_id, variant_id, delta, stock_after, reason, order_id)
        SELECT v.product_id, v.id, v.released, v.stock, left('released: ' || p_reason, 200),
               p_order
          FROM variants v
    )
    SELECT to_jsonb(c) - 'search_document' FROM changed c;
END
$$;
