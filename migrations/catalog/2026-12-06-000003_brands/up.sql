-- Brands (manufacturers) and the categories each is offered in (catalog v2).
CREATE TABLE brands (
    id uuid PRIMARY KEY,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    logo_url text,
    created_at timestamptz NOT NULL DEFAULT now()
);
-- One brand per name, whatever its case: "Apple" and "apple" are the same brand.
CREATE UNIQUE INDEX brands_name_key ON brands (lower(name));

CREATE TABLE brand_categories (
    brand_id uuid NOT NULL REFERENCES brands (id) ON DELETE CASCADE,
    category_id uuid NOT NULL REFERENCES categories (id) ON DELETE CASCADE,
    PRIMARY KEY (brand_id, category_id)
);
-- brands(categoryId): the brands of a category subtree.
CREATE INDEX brand_categories_category_idx ON brand_categories (category_id);
