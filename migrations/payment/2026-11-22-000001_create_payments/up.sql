-- Payments of orders. The order is referenced by id only.
CREATE TABLE payments (
    id         uuid PRIMARY KEY,
    order_id   uuid NOT NULL,
    status     text NOT NULL CHECK (status IN ('PENDING', 'SUCCEEDED', 'FAILED', 'CANCELLED', 'EXPIRED', 'REFUNDED', 'PARTIALLY_REFUNDED')),
    method     text NOT NULL CHECK (method IN ('SANDBOX_CARD', 'SANDBOX_WALLET')),
    amount     bigint NOT NULL CHECK (amount >= 0),
    currency   text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payments_order_id_idx ON payments (order_id, created_at);
