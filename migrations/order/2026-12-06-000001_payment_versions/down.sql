DROP TABLE order_payers;
DROP TABLE payment_versions;
