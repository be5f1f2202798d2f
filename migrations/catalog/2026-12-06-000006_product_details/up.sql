-- A product's gallery and its specification attributes (catalog v2), in display order.
CREATE TABLE product_images (
    product_id uuid NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    position int NOT NULL CHECK (position >= 0),
    url text NOT NULL,
    alt text,
    PRIMARY KEY (product_id, position)
);

CREATE TABLE product_attributes (
    product_id uuid NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    position int NOT NULL CHECK (position >= 0),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 50),
    value text NOT NULL CHECK (length(value) BETWEEN 1 AND 200),
    PRIMARY KEY (product_id, position)
);
-- One value per attribute name and product, whatever its case.
CREATE UNIQUE INDEX product_attributes_name_key ON product_attributes (product_id, lower(name));
