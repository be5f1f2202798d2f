-- Orders whose lines were removed from their buyer's cart: removal happens once per order,
-- whether the order subgraph's direct call or the OrderPlaced event arrives first.
CREATE TABLE cart_checkouts (
    order_id   uuid PRIMARY KEY,
    user_id    uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
