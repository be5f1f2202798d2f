DROP TRIGGER products_search_words ON products;
DROP FUNCTION remember_search_words();
DROP TABLE search_words;
DROP INDEX products_search_document_idx;
ALTER TABLE products DROP COLUMN search_document;
ALTER TABLE products ADD COLUMN search_document tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('simple', name), 'A') || setweight(to_tsvector('simple', description), 'B')
) STORED;
CREATE INDEX products_search_document_idx ON products USING gin (search_document);
DROP FUNCTION cjk_tokens(text);
