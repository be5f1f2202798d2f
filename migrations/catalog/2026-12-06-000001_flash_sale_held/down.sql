ALTER TABLE flash_sales DROP COLUMN held;
