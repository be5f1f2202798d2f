-- Flash-sale purchases: the record behind the Redis counters.
--
-- Redis admits purchases (flash_counters.rs); every admitted one is written here, with its
-- `FlashSalePurchaseAdmitted` event in the same statement, before the buyer hears PENDING.
-- Units held by a sale's buyers = quantities of its purchases with `returned_at IS NULL`;
-- the counters are rebuilt from that. `counter_epoch` counts those rebuilds: an admission
-- is recorded only under the epoch of the counters that admitted it, so an admission made
-- by counters that were since lost and rebuilt can never be recorded on top of them.
ALTER TABLE flash_sales ADD COLUMN counter_epoch integer NOT NULL DEFAULT 0;
COMMENT ON COLUMN flash_sales.sold IS
    'Units held by buyers when the unsold units went back (then less any given back later)';

CREATE TABLE flash_sale_purchases (
    -- Also the id of the order created for it.
    id              uuid PRIMARY KEY,
    sale_id         uuid NOT NULL REFERENCES flash_sales (id),
    user_id         uuid NOT NULL,
    idempotency_key text NOT NULL,
    request_hash    text NOT NULL,
    quantity        integer NOT NULL CHECK (quantity >= 1),
    unit_price      bigint NOT NULL CHECK (unit_price >= 0),
    currency        text NOT NULL,
    product_id      uuid NOT NULL,
    product_name    text NOT NULL,
    address_id      uuid NOT NULL,
    status          text NOT NULL CHECK (status IN ('PENDING', 'CONFIRMED', 'REJECTED')),
    reason          text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- When its admission event was last published (again, by the sweeper, if the order
    -- did not come: a Redis restart loses the stream).
    sent_at         timestamptz NOT NULL DEFAULT now(),
    -- Its units went back (to the sale while it runs, else to the product), once.
    returned_at     timestamptz,
    UNIQUE (user_id, idempotency_key)
);
-- The rebuild's question: units held per buyer of a sale.
CREATE INDEX flash_sale_purchases_held_idx ON flash_sale_purchases (sale_id, user_id)
    WHERE returned_at IS NULL;
-- The sweeper's question: purchases still waiting for their order.
CREATE INDEX flash_sale_purchases_pending_idx ON flash_sale_purchases (sent_at)
    WHERE status = 'PENDING';

-- Domain events, written in the transaction of the change (crates/event-bus).
CREATE TABLE outbox (
    seq          bigserial PRIMARY KEY,
    id           uuid NOT NULL UNIQUE,
    stream       text NOT NULL,
    name         text NOT NULL,
    version      integer NOT NULL,
    aggregate_id text NOT NULL,
    payload      text NOT NULL,
    traceparent  text,
    occurred_at  timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished_idx ON outbox (seq) WHERE published_at IS NULL;
