-- Who pays: the order's customer, copied when the payment is created, so that the payment
-- entity itself can decide who may see it (owner, or the payments:read permission).
-- No payment can exist yet (nothing creates one), so the column needs no backfill.
ALTER TABLE payments ADD COLUMN user_id uuid NOT NULL;
CREATE INDEX payments_user_idx ON payments (user_id, created_at);
