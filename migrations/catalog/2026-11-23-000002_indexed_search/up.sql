-- Search through indexes only: typos match with the trigram operator `<%` (word similarity
-- at least pg_trgm.word_similarity_threshold, set to 0.3 on every catalog connection), which
-- this index serves; the whole-term LIKE uses products_search_text_trgm_idx, the words
-- products_search_document_idx, and a category match `category_id = ANY(...)` uses
-- products_category_id_idx. One bitmap OR of the four replaces a sequential scan.
CREATE INDEX products_name_trgm_idx ON products USING gin (lower(name) public.gin_trgm_ops);
