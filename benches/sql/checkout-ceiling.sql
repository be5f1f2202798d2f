-- pgbench: the rows one checkout of one line writes, in ONE transaction (one commit): the
-- fastest this machine's PostgreSQL can write them. benches/checkout.rs runs it with the
-- same clients as the checkout measurement and reports checkout ÷ this ceiling.
-- :product is set per client by the benchmark (distinct products, or one hot product).
SELECT gen_random_uuid() AS oid, gen_random_uuid() AS uid \gset
SELECT b.id AS pid, v.id AS vid FROM catalog.bench_products b
    JOIN catalog.product_variants v ON v.product_id = b.id WHERE b.n = :product LIMIT 1 \gset
BEGIN;
INSERT INTO "order".checkout_attempts (user_id, idempotency_key, request_hash, order_id, state)
    VALUES (':uid', ':oid', 'h', ':oid', 'RESERVING');
UPDATE catalog.product_variants SET stock = stock - 1, version = version + 1,
    updated_at = now() WHERE id = ':vid';
UPDATE catalog.products SET stock = stock - 1, sales_count = sales_count + 1,
    version = version + 1, updated_at = now() WHERE id = ':pid';
INSERT INTO catalog.stock_reservations (order_id, status) VALUES (':oid', 'RESERVED');
INSERT INTO catalog.stock_reservation_lines (order_id, product_id, quantity, product_name,
    unit_price, currency, variant_id, sku, variant_name, options)
    VALUES (':oid', ':pid', 1, 'bench', 100, 'CNY', ':vid', 'SKU', '', '[]');
INSERT INTO catalog.stock_ledger (product_id, variant_id, delta, stock_after, reason, order_id)
    VALUES (':pid', ':vid', -1, 0, 'reserved for an order', ':oid');
UPDATE "order".checkout_attempts SET state = 'PLACED' WHERE user_id = ':uid' AND idempotency_key = ':oid';
INSERT INTO "order".orders (id, number, user_id, status, currency, subtotal_amount,
    total_amount, expires_at, shipping_address)
    VALUES (':oid', ':oid', ':uid', 'PENDING_PAYMENT', 'CNY', 100, 100, now() + interval '15 minutes', '{}');
INSERT INTO "order".order_items (order_id, position, product_id, product_name, unit_price,
    quantity, variant_id, sku, variant_name, options)
    VALUES (':oid', 1, ':pid', 'bench', 100, 1, ':vid', 'SKU', '', '[]');
INSERT INTO "order".order_status_history (order_id, to_status, at) VALUES (':oid', 'PENDING_PAYMENT', now());
INSERT INTO "order".outbox (id, stream, name, version, aggregate_id, payload)
    VALUES (gen_random_uuid(), 'orders', 'OrderPlaced', 1, ':oid', '{}');
END;
