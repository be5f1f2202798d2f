DROP TABLE flash_sales;
