-- The newest version of each payment the order subgraph has applied (issue 23): payment
-- events may arrive out of order (a failed one is retried after newer ones), and one older
-- than what was applied changes nothing. Written in the transaction that applies the event,
-- under the order's row lock.
CREATE TABLE payment_versions (
    payment_id uuid PRIMARY KEY,
    order_id   uuid NOT NULL REFERENCES orders (id),
    version    bigint NOT NULL,
    status     text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payment_versions_order_idx ON payment_versions (order_id);

-- The payment that paid the order (NULL before this migration, or never paid): a success of
-- any other payment of the same order (a declined payment approved late while a new one
-- paid, or two payments racing) is refused and refunded instead of being kept.
CREATE TABLE order_payers (
    order_id   uuid PRIMARY KEY REFERENCES orders (id),
    payment_id uuid NOT NULL
);
