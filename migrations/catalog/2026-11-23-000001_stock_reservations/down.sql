DROP FUNCTION release_stock(uuid, text);
DROP FUNCTION reserve_stock(uuid, uuid[], integer[]);
DROP TABLE stock_reservation_lines;
DROP TABLE stock_reservations;
ALTER TABLE stock_ledger DROP COLUMN order_id;
