-- Flash sales (seckill). A sale's units are taken out of the product's stock when the sale
-- is created (so ordinary checkouts can never sell them) and the unsold ones go back once
-- the sale has ended (`returned_at`). `sold` is the record of confirmed units, from which
-- the fast counters in Redis are rebuilt.
CREATE TABLE flash_sales (
    id              uuid PRIMARY KEY,
    product_id      uuid NOT NULL REFERENCES products (id),
    price           bigint NOT NULL CHECK (price >= 0),
    currency        text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    total_quantity  integer NOT NULL CHECK (total_quantity >= 1),
    per_user_limit  integer NOT NULL CHECK (per_user_limit >= 1),
    starts_at       timestamptz NOT NULL,
    ends_at         timestamptz NOT NULL,
    sold            integer NOT NULL DEFAULT 0 CHECK (sold >= 0 AND sold <= total_quantity),
    returned        integer,
    returned_at     timestamptz,
    created_by      uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at),
    CHECK ((returned IS NULL) = (returned_at IS NULL))
);
CREATE INDEX flash_sales_window_idx ON flash_sales (starts_at, ends_at);
-- The sweeper's question: ended sales whose units have not gone back yet.
CREATE INDEX flash_sales_unreturned_idx ON flash_sales (ends_at) WHERE returned_at IS NULL;
