-- When the money reconciler (issue 23) found a successful payment settled with its order:
-- the order is paid by it, or the money went back. Until then it asks the order subgraph.
ALTER TABLE payments ADD COLUMN reconciled_at timestamptz;
CREATE INDEX payments_to_reconcile_idx ON payments (updated_at)
    WHERE status IN ('SUCCEEDED', 'PARTIALLY_REFUNDED') AND reconciled_at IS NULL;
