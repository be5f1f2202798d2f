DROP TABLE outbox;
DROP TABLE flash_sale_purchases;
COMMENT ON COLUMN flash_sales.sold IS NULL;
ALTER TABLE flash_sales DROP COLUMN counter_epoch;
