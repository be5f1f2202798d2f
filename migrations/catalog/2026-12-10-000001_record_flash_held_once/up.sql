-- A batch of flash-sale recordings raises the sale's `held` once, not once per admission.
--
-- Each admission used to raise `held` with an UPDATE of its own: the sale's row updated up
-- to 64 times in one transaction, each time a new row version that the next UPDATE walks
-- past (none can be pruned before the COMMIT). In a batch of 50 that made an admission
-- cost 0.5 ms, most of it there (2,000 such updates of one row in one transaction: 217 ms,
-- against 12 ms for 2,000 reads of it). The batch now locks the sale's row once, when its
-- first admission gets past the key and the buyer's limit (as the first UPDATE did, after
-- the advisory locks), counts in a variable, and writes `held` once at the end.
-- The product's and variant's snapshot is read once per batch too. The outcomes are those
-- of `record_flash_admission`, which this replaces.

DROP FUNCTION record_flash_purchases(uuid, uuid[], uuid[], text[], text[], integer[], uuid[],
                                     integer[], uuid[], text[], text, text);
DROP FUNCTION record_flash_admission(uuid, uuid, uuid, text, text, integer, uuid, integer,
                                     uuid, text, text, text);

-- Records admissions of sale `p_sale` (the arrays hold one admission per index) and their
-- events (`p_name` v1 on `p_stream`) in the caller's transaction, within the record's
-- bounds: the sale's units held (`held`) never exceed its quantity, nor a buyer's units the
-- per-user limit, whatever the Redis counters admitted. One outcome never rolls another
-- back. Answers each: `n` (its index, from 1), `outcome`, and `purchase` where there is one:
--   NEW             recorded (with `purchase`);
--   EXISTING        the buyer's key was recorded before (Redis had forgotten it): that
--                   purchase, nothing written;
--   STALE           no such sale, or the counters of its epoch were rebuilt since, or the
--                   sale's unsold units went back: nothing written (EXISTING instead when
--                   the key has a purchase by then);
--   LIMIT_EXCEEDED  the buyer's limit has no room left in the record: nothing written;
--   SOLD_OUT        the sale has no room left in the record: nothing written.
CREATE FUNCTION record_flash_purchases(
    p_sale uuid, p_ids uuid[], p_buyers uuid[], p_keys text[], p_hashes text[],
    p_quantities integer[], p_addresses uuid[], p_epochs integer[], p_events uuid[],
    p_traceparents text[], p_stream text, p_name text)
RETURNS TABLE (n integer, outcome text, purchase flash_sale_purchases)
LANGUAGE plpgsql AS $$
DECLARE
    v_lock bigint;
    v_sale flash_sales;
    v_found boolean;
    v_locked boolean := false;
    v_held bigint;
    v_holding bigint;
    v_line record;
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
    -- Read without a lock: a sale is never deleted, and its limit, price and unit never
    -- change. Its `held`, epoch and return are read again under its row lock.
    SELECT * INTO v_sale FROM flash_sales WHERE id = p_sale;
    v_found := FOUND;
    -- The unit's snapshot, read once for the batch (`variant_name`, a SQL function with a
    -- subquery, is planned again at every call: 0.25 ms an admission when it was read in
    -- each admission's INSERT).
    IF v_found THEN
        SELECT p.name AS product_name, v.id AS variant_id, v.sku,
               variant_name(v.options, p.name) AS variant_name, v.options
          INTO v_line
          FROM products p JOIN product_variants v ON v.id = v_sale.variant_id
         WHERE p.id = v_sale.product_id;
        v_found := FOUND;
    END IF;
    FOR i IN 1 .. coalesce(array_length(p_ids, 1), 0) LOOP
        n := i;
        outcome := 'STALE';
        purchase := NULL;
        <<checked>>
        BEGIN
            -- Each statement sees every earlier purchase of this buyer and key (theirs
            -- committed before the locks were granted, or this batch's own), so a key
            -- not found here is not found later in this admission either.
            SELECT * INTO purchase FROM flash_sale_purchases
             WHERE user_id = p_buyers[i] AND idempotency_key = p_keys[i];
            IF FOUND THEN
                outcome := 'EXISTING';
                EXIT checked;
            END IF;
            EXIT checked WHEN NOT v_found;
            SELECT coalesce(sum(quantity), 0) INTO v_holding FROM flash_sale_purchases
             WHERE sale_id = p_sale AND user_id = p_buyers[i] AND returned_at IS NULL;
            -- The per-user limit counts what the buyer holds already.
            IF v_holding + p_quantities[i] > v_sale.per_user_limit THEN
                outcome := 'LIMIT_EXCEEDED';
                EXIT checked;
            END IF;
            -- The sale's row lock, held to the COMMIT right after the call returns (a batch
            -- refused before this point writes nothing and locks nothing): its `held`,
            -- epoch and return cannot change under the rest of the batch.
            IF NOT v_locked THEN
                SELECT * INTO v_sale FROM flash_sales WHERE id = p_sale FOR NO KEY UPDATE;
                v_locked := true;
                v_held := v_sale.held;
            END IF;
            -- Counters rebuilt since this admission (another epoch), or units returned.
            EXIT checked WHEN v_sale.returned_at IS NOT NULL
                           OR v_sale.counter_epoch IS DISTINCT FROM p_epochs[i];
            IF v_held + p_quantities[i] > v_sale.total_quantity THEN
                outcome := 'SOLD_OUT';
                EXIT checked;
            END IF;
            INSERT INTO flash_sale_purchases (id, sale_id, user_id, idempotency_key,
                                              request_hash, quantity, unit_price, currency,
                                              product_id, product_name, address_id, status,
                                              variant_id, sku, variant_name, options)
            VALUES (p_ids[i], v_sale.id, p_buyers[i], p_keys[i], p_hashes[i], p_quantities[i],
                    v_sale.price, v_sale.currency, v_sale.product_id, v_line.product_name,
                    p_addresses[i], 'PENDING', v_line.variant_id, v_line.sku,
                    v_line.variant_name, v_line.options)
            ON CONFLICT (user_id, idempotency_key) DO NOTHING
            RETURNING * INTO purchase;
            IF NOT FOUND THEN
                -- The key was recorded meanwhile by a recording that did not queue on the
                -- key's lock (none does today: a safety net); nothing was counted.
                SELECT * INTO purchase FROM flash_sale_purchases
                 WHERE user_id = p_buyers[i] AND idempotency_key = p_keys[i];
                IF FOUND THEN
                    outcome := 'EXISTING';
                END IF;
                EXIT checked;
            END IF;
            v_held := v_held + p_quantities[i];
            INSERT INTO outbox (id, stream, name, version, aggregate_id, payload,
                                traceparent, occurred_at)
            VALUES (p_events[i], p_stream, p_name, 1, p_ids[i]::text,
                    flash_admitted_payload(purchase), p_traceparents[i], clock_timestamp());
            outcome := 'NEW';
        END;
        RETURN NEXT;
    END LOOP;
    IF v_locked AND v_held <> v_sale.held THEN
        UPDATE flash_sales SET held = held + (v_held - v_sale.held) WHERE id = p_sale;
    END IF;
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

-- "Red / M" (the product's name when the variant has no options), as before, in PL/pgSQL:
-- a SQL function with a subquery is not inlined, and its body is parsed and planned again
-- at every statement that calls it (57 µs a call here), where PL/pgSQL keeps its plan for
-- the session (23 µs). Stock reservations call it twice per line of every checkout.
CREATE OR REPLACE FUNCTION variant_name(options jsonb, product_name text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    RETURN coalesce((SELECT string_agg(o.value ->> 'value', ' / ' ORDER BY o.n)
                       FROM jsonb_array_elements(options) WITH ORDINALITY AS o (value, n)),
                    product_name);
END
$$;
