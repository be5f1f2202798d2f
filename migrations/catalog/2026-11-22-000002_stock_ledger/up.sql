-- Every stock change, with its reason and who made it. `products.stock` is the running
-- total; the ledger explains it.
CREATE TABLE stock_ledger (
    id          bigserial PRIMARY KEY,
    product_id  uuid NOT NULL REFERENCES products (id),
    delta       integer NOT NULL CHECK (delta <> 0),
    stock_after integer NOT NULL CHECK (stock_after >= 0),
    reason      text NOT NULL CHECK (length(btrim(reason)) BETWEEN 1 AND 200),
    actor       uuid,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stock_ledger_product_idx ON stock_ledger (product_id, id);
