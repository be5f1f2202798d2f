-- The catalog subgraph's tables. They live in the schema named by the subgraph (the
-- migration runner sets search_path), so no schema is written here.

CREATE TABLE categories (
    id         uuid PRIMARY KEY,
    parent_id  uuid REFERENCES categories (id),
    name       text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    position   integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX categories_parent_id_idx ON categories (parent_id, position);

CREATE TABLE products (
    id           uuid PRIMARY KEY,
    category_id  uuid REFERENCES categories (id),
    name         text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    description  text NOT NULL DEFAULT '',
    image_url    text,
    price_amount bigint NOT NULL CHECK (price_amount >= 0),
    currency     text NOT NULL DEFAULT 'CNY' CHECK (currency ~ '^[A-Z]{3}$'),
    status       text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('DRAFT', 'ACTIVE', 'ARCHIVED')),
    stock        integer NOT NULL DEFAULT 0 CHECK (stock >= 0),
    sales_count  integer NOT NULL DEFAULT 0 CHECK (sales_count >= 0),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
-- Keyset pagination of the storefront listing (newest first), over visible products only.
CREATE INDEX products_active_newest_idx ON products (created_at DESC, id DESC) WHERE status = 'ACTIVE';
CREATE INDEX products_category_id_idx ON products (category_id);
