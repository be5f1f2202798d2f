-- Recording flash-sale admissions several at a time, in one statement
-- (db::flash_purchases::record_batch).
--
-- Every admission of a sale raises the sale's `held` count, so the recordings of a sale
-- queue on its row, each holding it through its COMMIT, WAL flush included: one flush
-- after the other (1,000 admissions took 1.25–1.94 s of the flash bench's row; sampled,
-- the holder was mostly waiting on the WAL, benches/README.md, "Flash sale"). Recorded
-- together, the admissions waiting for a sale share one transaction and one flush, and
-- their statements run inside PostgreSQL: one round trip for them all, where each
-- admission used to take seven.

-- The payload of a purchase's `FlashSalePurchaseAdmitted` v1 event, read by the order
-- subgraph (order workflows/flash_orders.rs, `Admitted`). The one definition, for the
-- recording and for the sweeper's resend.
CREATE FUNCTION flash_admitted_payload(p flash_sale_purchases) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'purchaseId', p.id, 'saleId', p.sale_id, 'userId', p.user_id,
        'productId', p.product_id, 'productName', p.product_name, 'quantity', p.quantity,
        'unitPrice', p.unit_price, 'currency', p.currency, 'addressId', p.address_id,
        'variantId', p.variant_id, 'sku', p.sku, 'variantName', p.variant_name,
        'options', p.options)::text
$$;

-- Records an admitted purchase and its event (`p_name` v1 on `p_stream`), within the
-- record's bounds: the sale's units held (`held`, raised under the sale's row lock) never
-- exceed its quantity, nor a buyer's units the per-user limit, whatever the Redis counters
-- admitted.
-- `outcome`, with `purchase` where there is one:
--   NEW             recorded (with `purchase`);
--   EXISTING        the buyer's key was recorded before (Redis had forgotten it): that
--                   purchase, nothing written;
--   STALE           no such sale, or the counters of `p_epoch` were rebuilt since, or the
--                   sale's unsold units went back: nothing written (EXISTING instead when
--                   the key has a purchase by then);
--   LIMIT_EXCEEDED  the buyer's limit has no room left in the record: nothing written;
--   SOLD_OUT        the sale has no room left in the record: nothing written.
-- Every check comes before any write, so an outcome other than NEW leaves nothing to roll
-- back (one compensated case, below). The caller holds the buyer's and the key's locks
-- (`record_flash_purchases`); the caller's plan_cache_mode applies to its statements.
CREATE FUNCTION record_flash_admission(
    p_id uuid, p_sale uuid, p_buyer uuid, p_key text, p_hash text, p_quantity integer,
    p_address uuid, p_epoch integer, p_event uuid, p_stream text, p_name text,
    p_traceparent text,
    OUT outcome text, OUT purchase flash_sale_purchases)
LANGUAGE plpgsql AS $$
DECLARE
    v_limit integer;
    v_holding bigint;
    v_sale flash_sales;
BEGIN
    <<checked>>
    BEGIN
        -- Each statement takes its own snapshot: it sees every earlier purchase of this
        -- buyer and key (their recordings queue on the caller's locks).
        SELECT per_user_limit INTO v_limit FROM flash_sales WHERE id = p_sale;
        IF NOT FOUND THEN
            outcome := 'STALE';
            EXIT checked;
        END IF;
        SELECT * INTO purchase FROM flash_sale_purchases
         WHERE user_id = p_buyer AND idempotency_key = p_key;
        IF FOUND THEN
            outcome := 'EXISTING';
            RETURN;
        END IF;
        SELECT coalesce(sum(quantity), 0) INTO v_holding FROM flash_sale_purchases
         WHERE sale_id = p_sale AND user_id = p_buyer AND returned_at IS NULL;
        -- The per-user limit counts what the buyer holds already.
        IF v_holding + p_quantity > v_limit THEN
            outcome := 'LIMIT_EXCEEDED';
            RETURN;
        END IF;
        -- The sale's row lock, held from here to the COMMIT right after the call returns.
        UPDATE flash_sales SET held = held + p_quantity
         WHERE id = p_sale AND returned_at IS NULL AND counter_epoch = p_epoch
           AND held + p_quantity <= total_quantity;
        IF NOT FOUND THEN
            SELECT * INTO v_sale FROM flash_sales WHERE id = p_sale;
            IF v_sale.returned_at IS NULL AND v_sale.counter_epoch = p_epoch THEN
                outcome := 'SOLD_OUT';
                RETURN;
            END IF;
            outcome := 'STALE';
            EXIT checked;
        END IF;
        INSERT INTO flash_sale_purchases (id, sale_id, user_id, idempotency_key,
                                          request_hash, quantity, unit_price, currency,
                                          product_id, product_name, address_id, status,
                                          variant_id, sku, variant_name, options)
        SELECT p_id, sale.id, p_buyer, p_key, p_hash, p_quantity, sale.price, sale.currency,
               sale.product_id, p.name, p_address, 'PENDING', v.id, v.sku,
               variant_name(v.options, p.name), v.options
          FROM flash_sales sale JOIN products p ON p.id = sale.product_id
               JOIN product_variants v ON v.id = sale.variant_id
         WHERE sale.id = p_sale
        ON CONFLICT (user_id, idempotency_key) DO NOTHING
        RETURNING * INTO purchase;
        IF NOT FOUND THEN
            -- The key was recorded meanwhile by a recording that did not queue on the
            -- key's lock (none does today: a safety net): this one's units go back.
            UPDATE flash_sales SET held = held - p_quantity WHERE id = p_sale;
            outcome := 'STALE';
            EXIT checked;
        END IF;
        INSERT INTO outbox (id, stream, name, version, aggregate_id, payload, traceparent,
                            occurred_at)
        VALUES (p_event, p_stream, p_name, 1, p_id::text,
                flash_admitted_payload(purchase), p_traceparent, clock_timestamp());
        outcome := 'NEW';
        RETURN;
    END;
    -- Not recordable: the buyer's purchase under this key, if there is one now.
    SELECT * INTO purchase FROM flash_sale_purchases
     WHERE user_id = p_buyer AND idempotency_key = p_key;
    IF FOUND THEN
        outcome := 'EXISTING';
    END IF;
END
$$;

-- Records admissions of sale `p_sale` (the arrays hold one admission per index, as
-- `record_flash_admission` takes them) in the caller's transaction, and answers each: `n`
-- (its index, from 1), `outcome` and `purchase`. One outcome never rolls another back.
CREATE FUNCTION record_flash_purchases(
    p_sale uuid, p_ids uuid[], p_buyers uuid[], p_keys text[], p_hashes text[],
    p_quantities integer[], p_addresses uuid[], p_epochs integer[], p_events uuid[],
    p_traceparents text[], p_stream text, p_name text)
RETURNS TABLE (n integer, outcome text, purchase flash_sale_purchases)
LANGUAGE plpgsql AS $$
DECLARE
    v_lock bigint;
    v_recorded record;
BEGIN
    -- One buyer's recordings of a sale queue on the buyer's lock (not the whole sale's),
    -- and recordings of one buyer's key (for whichever sale: a key is the buyer's) on the
    -- key's, so a twin is seen committed, never waited for under the sale's row. Every
    -- lock is taken first, in the order of their keys, before the sale's row: two
    -- recordings never hold what the other waits for.
    FOR v_lock IN
        SELECT hashtextextended('flash-buyer:' || p_sale || ':' || b, 0)
          FROM unnest(p_buyers) AS b
        UNION
        SELECT hashtextextended('flash-key:' || b || ':' || k, 0)
          FROM unnest(p_buyers, p_keys) AS t (b, k)
        ORDER BY 1
    LOOP
        PERFORM pg_advisory_xact_lock(v_lock);
    END LOOP;
    FOR i IN 1 .. coalesce(array_length(p_ids, 1), 0) LOOP
        n := i;
        SELECT * INTO v_recorded
          FROM record_flash_admission(p_ids[i], p_sale, p_buyers[i], p_keys[i], p_hashes[i],
                                      p_quantities[i], p_addresses[i], p_epochs[i],
                                      p_events[i], p_stream, p_name, p_traceparents[i]);
        outcome := v_recorded.outcome;
        purchase := v_recorded.purchase;
        RETURN NEXT;
    END LOOP;
END
$$;
-- Its lock waits end within `lock_timeout`, so that a call whose client is gone (its answer
-- lost: the catalog reads the purchases back and gives units back for what it does not
-- find) can neither commit long after nor hold up the sale's later recordings: once that
-- long has passed, the read-back's answer is final (workflows::flash_purchases,
-- `read_back`; 3 s there too).
ALTER FUNCTION record_flash_purchases(uuid, uuid[], uuid[], text[], text[], integer[], uuid[],
                                      integer[], uuid[], text[], text, text)
    SET plan_cache_mode = force_generic_plan
    SET lock_timeout = '3s';
