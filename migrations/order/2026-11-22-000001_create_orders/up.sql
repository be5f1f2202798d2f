-- Orders and their lines. Lines keep a snapshot of the product's name and unit price at
-- purchase time; the product itself is referenced by id only.
CREATE TABLE orders (
    id              uuid PRIMARY KEY,
    number          text NOT NULL UNIQUE,
    user_id         uuid NOT NULL,
    status          text NOT NULL CHECK (status IN ('PENDING_PAYMENT', 'PAID', 'CANCELLED', 'EXPIRED', 'REFUNDED')),
    currency        text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    subtotal_amount bigint NOT NULL CHECK (subtotal_amount >= 0),
    discount_amount bigint NOT NULL DEFAULT 0 CHECK (discount_amount >= 0),
    total_amount    bigint NOT NULL CHECK (total_amount >= 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- Optimistic concurrency for state changes.
    version         integer NOT NULL DEFAULT 0
);
CREATE INDEX orders_user_newest_idx ON orders (user_id, created_at DESC, id DESC);

CREATE TABLE order_items (
    order_id     uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    position     integer NOT NULL,
    product_id   uuid NOT NULL,
    product_name text NOT NULL,
    unit_price   bigint NOT NULL CHECK (unit_price >= 0),
    quantity     integer NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_id, position)
);
