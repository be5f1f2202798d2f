-- Payments with a life: idempotent creation, at most one open payment per order, a log of
-- every status change, refunds, the sandbox gateway's queued webhook deliveries, replayed
-- webhook events, and the outbox of payment events. No payment exists yet (nothing created
-- one before), so new NOT NULL columns need no backfill.

ALTER TABLE payments
    ADD COLUMN idempotency_key   text NOT NULL CHECK (char_length(idempotency_key) BETWEEN 8 AND 128),
    ADD COLUMN gateway_reference text NOT NULL UNIQUE,
    ADD COLUMN expires_at        timestamptz NOT NULL,
    ADD COLUMN refunded_amount   bigint NOT NULL DEFAULT 0,
    ADD COLUMN version           bigint NOT NULL DEFAULT 1,
    ADD COLUMN updated_at        timestamptz NOT NULL DEFAULT now(),
    ADD CONSTRAINT payments_refunds_within_amount CHECK (refunded_amount BETWEEN 0 AND amount);

-- The same key from the same customer is the same payment (racing requests included).
CREATE UNIQUE INDEX payments_idempotency_idx ON payments (user_id, idempotency_key);
-- At most one open payment per order, whatever races.
CREATE UNIQUE INDEX payments_one_open_per_order_idx ON payments (order_id) WHERE status = 'PENDING';
-- Open payments by due time, for expiry.
CREATE INDEX payments_expiry_idx ON payments (expires_at) WHERE status = 'PENDING';

-- Every status change, written in the transaction that makes it.
CREATE TABLE payment_log (
    id          bigserial PRIMARY KEY,
    payment_id  uuid NOT NULL REFERENCES payments (id),
    at          timestamptz NOT NULL DEFAULT now(),
    from_status text,
    to_status   text NOT NULL,
    note        text
);
CREATE INDEX payment_log_payment_idx ON payment_log (payment_id, id);

CREATE TABLE refunds (
    id              uuid PRIMARY KEY,
    payment_id      uuid NOT NULL REFERENCES payments (id),
    amount          bigint NOT NULL CHECK (amount > 0),
    reason          text NOT NULL,
    idempotency_key text NOT NULL CHECK (char_length(idempotency_key) BETWEEN 8 AND 128),
    created_by      uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (payment_id, idempotency_key)
);

-- What the sandbox gateway still has to tell the webhook: a queued job per decision,
-- retried with backoff until the webhook answers 2xx.
CREATE TABLE gateway_deliveries (
    id              bigserial PRIMARY KEY,
    event_id        uuid NOT NULL UNIQUE,
    payment_id      uuid NOT NULL REFERENCES payments (id),
    body            text NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    last_error      text
);
CREATE INDEX gateway_deliveries_due_idx ON gateway_deliveries (next_attempt_at) WHERE delivered_at IS NULL;

-- Webhook events already applied: a replayed eventId answers 200 and changes nothing.
CREATE TABLE webhook_events (
    event_id    text PRIMARY KEY,
    payment_id  uuid NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);

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
