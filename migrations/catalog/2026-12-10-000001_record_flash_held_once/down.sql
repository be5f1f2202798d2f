-- Back to one UPDATE of the sale's `held` per admission (2026-12-09-000001).
DROP FUNCTION record_flash_purchases(uuid, uuid[], uuid[], text[], text[], integer[], uuid[],
                                     integer[], uuid[], text[], text, text);

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

CREATE OR REPLACE FUNCTION variant_name(options jsonb, product_name text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce((SELECT string_agg(o.value ->> 'value', ' / ' ORDER BY o.n)
                       FROM jsonb_array_elements(options) WITH ORDINALITY AS o (value, n)),
                    product_name)
$$;
