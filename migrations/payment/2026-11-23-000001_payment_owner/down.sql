DROP INDEX payments_user_idx;
ALTER TABLE payments DROP COLUMN user_id;
