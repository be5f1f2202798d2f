SET LOCAL lock_timeout = '5s';
DROP TRIGGER cart_items_default_variant ON cart_items;
DROP FUNCTION cart_items_default_variant();
-- One line per product again: the oldest keeps the units of all (at most 999).
UPDATE cart_items i
   SET quantity = least(t.total, 999)
  FROM (SELECT cart_id, product_id, sum(quantity) AS total
          FROM cart_items GROUP BY cart_id, product_id HAVING count(*) > 1) t
 WHERE i.cart_id = t.cart_id AND i.product_id = t.product_id
   AND NOT EXISTS (SELECT 1 FROM cart_items o
                    WHERE o.cart_id = i.cart_id AND o.product_id = i.product_id
                      AND (o.added_at, o.variant_id) < (i.added_at, i.variant_id));
DELETE FROM cart_items i
 WHERE EXISTS (SELECT 1 FROM cart_items o
                WHERE o.cart_id = i.cart_id AND o.product_id = i.product_id
                  AND (o.added_at, o.variant_id) < (i.added_at, i.variant_id));
ALTER TABLE cart_items
    DROP CONSTRAINT cart_items_pkey,
    DROP COLUMN variant_id,
    ADD PRIMARY KEY (cart_id, product_id);
