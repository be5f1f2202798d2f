-- Checkout, the order life cycle and the transactional outbox.

-- Orders gain their life-cycle times, shipping address (a JSON copy: the address may later
-- change or disappear in the user subgraph; the order keeps what it was shipped to) and a
-- note. `number` comes from a sequence: short, unique, and readable on the phone.
CREATE SEQUENCE order_number_seq;
ALTER TABLE orders
    ADD COLUMN expires_at       timestamptz,
    ADD COLUMN paid_at          timestamptz,
    ADD COLUMN cancelled_at     timestamptz,
    ADD COLUMN cancel_reason    text,
    ADD COLUMN shipping_address text NOT NULL DEFAULT '{}',
    ADD COLUMN note             text;
-- The expiry sweeper's batch: unpaid orders by due time.
CREATE INDEX orders_expiry_idx ON orders (expires_at) WHERE status = 'PENDING_PAYMENT';
-- Admin listing, newest first, optionally by status.
CREATE INDEX orders_newest_idx ON orders (created_at DESC, id DESC);
CREATE INDEX orders_status_newest_idx ON orders (status, created_at DESC, id DESC);

-- Every status change of an order, in order.
CREATE TABLE order_status_history (
    id          bigserial PRIMARY KEY,
    order_id    uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    from_status text,
    to_status   text NOT NULL,
    at          timestamptz NOT NULL,
    reason      text
);
CREATE INDEX order_status_history_order_idx ON order_status_history (order_id, id);

-- One row per (user, idempotency key): the primary key makes racing retries agree on one
-- order id before any stock is reserved. RESERVING: stock may be held for `order_id` and
-- the order is being created; PLACED: the order exists; ABANDONED: the process died in
-- between, the sweeper gave the stock back, and a retry starts over with a new order id.
CREATE TABLE checkout_attempts (
    user_id         uuid NOT NULL,
    idempotency_key text NOT NULL,
    request_hash    text NOT NULL,
    order_id        uuid NOT NULL UNIQUE,
    state           text NOT NULL CHECK (state IN ('RESERVING', 'PLACED', 'ABANDONED')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, idempotency_key)
);
CREATE INDEX checkout_attempts_reserving_idx ON checkout_attempts (created_at)
    WHERE state = 'RESERVING';

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
