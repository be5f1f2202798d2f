DROP TABLE cart_checkouts;
