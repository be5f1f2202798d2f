ALTER TABLE flash_sales DROP CONSTRAINT flash_sales_held_within_quantity;
ALTER TABLE flash_sales DROP COLUMN held;
