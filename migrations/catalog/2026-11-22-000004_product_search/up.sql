-- Product search: PostgreSQL full-text search over name (weight A) and description
-- (weight B) with the `simple` configuration (no stemming, works for any language), plus
-- trigrams for typos, prefixes and CJK substrings. pg_trgm lives in `public` (extensions
-- are per database); queries qualify its functions.
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;

ALTER TABLE products ADD COLUMN search_document tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('simple', name), 'A') || setweight(to_tsvector('simple', description), 'B')
) STORED;

CREATE INDEX products_search_document_idx ON products USING gin (search_document);
CREATE INDEX products_search_text_trgm_idx ON products
    USING gin (lower(name || ' ' || description) public.gin_trgm_ops);
