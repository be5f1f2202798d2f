DROP INDEX payments_to_reconcile_idx;
ALTER TABLE payments DROP COLUMN reconciled_at;
