DROP INDEX products_search_text_trgm_idx;
DROP INDEX products_search_document_idx;
ALTER TABLE products DROP COLUMN search_document;
