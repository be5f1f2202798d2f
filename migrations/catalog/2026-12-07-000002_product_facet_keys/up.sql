-- Listing facets and attribute filters without reading variants (catalog v2): each product
-- keeps the attribute and active-option values it can be found by, and its highest active
-- price, so a listing's attribute filter is one GIN lookup and its facets read the matching
-- products alone (db::filter, db::facets). Triggers keep them in the transaction of the
-- change; never on a variant's stock alone (reservations change it constantly).
ALTER TABLE products
    -- lower(name) || U+001F || lower(value) of its attributes and active variants' options,
    -- distinct and sorted (names and values hold no control characters).
    ADD COLUMN facet_keys text[] NOT NULL DEFAULT '{}',
    -- For each key, in the same order: the first spelling of the name in byte order (capitals
    -- first) || U+001F || the first spelling of the value, among the product's pairs of it.
    ADD COLUMN facet_labels text[] NOT NULL DEFAULT '{}',
    -- Its highest active variant's price (NULL without an active variant); its lowest is
    -- `price_amount`.
    ADD COLUMN price_max bigint;

-- Writes the facet columns of these products from their attributes and variants. Locks
-- them in id order first (the order `lock_products` takes), so a statement writing the
-- variants or attributes of several products never waits for them in another order; the
-- application's writers hold the product's lock already.
CREATE FUNCTION refresh_product_facets(p_products uuid[]) RETURNS void
LANGUAGE sql AS $$
    SELECT count(*) FROM (
        SELECT 1 FROM products WHERE id = ANY (p_products) ORDER BY id FOR NO KEY UPDATE
    ) AS locked;

    WITH targets AS MATERIALIZED (
        SELECT DISTINCT t.id FROM unnest(p_products) AS t (id) WHERE t.id IS NOT NULL
    ), variants AS MATERIALIZED (
        -- No condition on the status here: the planner then reads each product's variants
        -- through an index led by product_id, never the partial price index (whose scan for
        -- one product reads every active variant).
        SELECT v.product_id, v.options, v.price_amount, v.status = 'ACTIVE' AS active
          FROM targets t JOIN product_variants v ON v.product_id = t.id
    ), pairs AS (
        SELECT a.product_id, a.name, a.value
          FROM targets t JOIN product_attributes a ON a.product_id = t.id
        UNION ALL
        SELECT v.product_id, o.o ->> 'name', o.o ->> 'value'
          FROM variants v CROSS JOIN LATERAL jsonb_array_elements(v.options) AS o (o)
         WHERE v.active
    ), keyed AS (
        SELECT product_id, lower(name) || chr(31) || lower(value) AS key,
               min(name COLLATE "C") || chr(31) || min(value COLLATE "C") AS label
          FROM pairs WHERE name IS NOT NULL AND value IS NOT NULL
         GROUP BY product_id, lower(name), lower(value)
    ), grouped AS (
        SELECT product_id, array_agg(key ORDER BY key COLLATE "C") AS keys,
               array_agg(label ORDER BY key COLLATE "C") AS labels
          FROM keyed GROUP BY product_id
    ), prices AS (
        SELECT product_id, max(price_amount) AS price_max
          FROM variants WHERE active GROUP BY product_id
    ), summary AS (
        SELECT p.id, coalesce(g.keys, '{}') AS keys, coalesce(g.labels, '{}') AS labels,
               pr.price_max
          FROM targets p
          LEFT JOIN grouped g ON g.product_id = p.id
          LEFT JOIN prices pr ON pr.product_id = p.id
    )
    UPDATE products p
       SET facet_keys = s.keys, facet_labels = s.labels, price_max = s.price_max
      FROM summary s
     WHERE p.id = s.id
       AND (p.facet_keys, p.facet_labels, p.price_max)
           IS DISTINCT FROM (s.keys, s.labels, s.price_max)
$$;

CREATE FUNCTION refresh_facets_of_new_rows() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    PERFORM refresh_product_facets(ARRAY(SELECT DISTINCT product_id FROM new_rows));
    RETURN NULL;
END
$$;
CREATE FUNCTION refresh_facets_of_old_rows() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    PERFORM refresh_product_facets(ARRAY(SELECT DISTINCT product_id FROM old_rows));
    RETURN NULL;
END
$$;
CREATE FUNCTION refresh_facets_of_row() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    PERFORM refresh_product_facets(ARRAY[OLD.product_id, NEW.product_id]);
    RETURN NULL;
END
$$;

CREATE TRIGGER product_attributes_facets_insert AFTER INSERT ON product_attributes
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION refresh_facets_of_new_rows();
CREATE TRIGGER product_attributes_facets_delete AFTER DELETE ON product_attributes
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION refresh_facets_of_old_rows();
CREATE TRIGGER product_attributes_facets_update AFTER UPDATE ON product_attributes
    FOR EACH ROW EXECUTE FUNCTION refresh_facets_of_row();
CREATE TRIGGER product_variants_facets_insert AFTER INSERT ON product_variants
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION refresh_facets_of_new_rows();
CREATE TRIGGER product_variants_facets_delete AFTER DELETE ON product_variants
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION refresh_facets_of_old_rows();
-- Only what the facets and prices show: never a stock change (reserve_stock, release_stock,
-- flash sales), which must not touch products again.
CREATE TRIGGER product_variants_facets_update
    AFTER UPDATE OF status, price_amount, options ON product_variants
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.options IS DISTINCT FROM NEW.options
          OR OLD.price_amount IS DISTINCT FROM NEW.price_amount)
    EXECUTE FUNCTION refresh_facets_of_row();

-- The products there are.
SELECT refresh_product_facets(ARRAY(SELECT id FROM products));

-- filter.attributes: facet_keys && the keys of one name's values.
CREATE INDEX products_facet_keys_idx ON products USING gin (facet_keys) WHERE status = 'ACTIVE';
