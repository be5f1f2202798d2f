-- Search through indexes only, at any catalog size.
--
-- Chinese (and Japanese, Korean) text has no spaces, so full-text search saw a whole run of
-- characters as one token and only a substring scan could find a word inside it. Every
-- such character, and every pair of neighbours, is now a token of its own in
-- search_document: the service turns a Chinese term into its pairs (a single character
-- into itself), and the GIN index finds them.
CREATE FUNCTION cjk_tokens(input text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(string_agg(token, ' '), '') FROM (
        SELECT substr(run[1], i, 1) AS token
        FROM regexp_matches(input, '([\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]+)', 'g') AS run,
             generate_series(1, char_length(run[1])) AS i
        UNION ALL
        SELECT substr(run[1], i, 2)
        FROM regexp_matches(input, '([\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]+)', 'g') AS run,
             generate_series(1, char_length(run[1]) - 1) AS i
    ) AS tokens
$$;

DROP INDEX products_search_document_idx;
ALTER TABLE products DROP COLUMN search_document;
ALTER TABLE products ADD COLUMN search_document tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('simple', name || ' ' || cjk_tokens(name)), 'A')
    || setweight(to_tsvector('simple', description || ' ' || cjk_tokens(description)), 'B')
) STORED;
CREATE INDEX products_search_document_idx ON products USING gin (search_document);

-- Typos are corrected against the vocabulary of product names (a few thousand words, not
-- every product): the closest words by trigram similarity, then an ordinary indexed
-- full-text search. A trigger keeps the vocabulary (words are never removed: a word no
-- product has any more just finds nothing).
CREATE TABLE search_words (word text PRIMARY KEY);
CREATE INDEX search_words_trgm_idx ON search_words USING gin (word public.gin_trgm_ops);

CREATE FUNCTION remember_search_words() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO search_words (word)
    SELECT DISTINCT w FROM regexp_split_to_table(lower(NEW.name), '[^[:alnum:]]+') AS w
    WHERE char_length(w) >= 3 AND w ~ '[[:alpha:]]'
    ON CONFLICT DO NOTHING;
    RETURN NEW;
END
$$;
CREATE TRIGGER products_search_words AFTER INSERT OR UPDATE OF name ON products
    FOR EACH ROW EXECUTE FUNCTION remember_search_words();
INSERT INTO search_words (word)
SELECT DISTINCT w FROM products, regexp_split_to_table(lower(name), '[^[:alnum:]]+') AS w
WHERE char_length(w) >= 3 AND w ~ '[[:alpha:]]'
ON CONFLICT DO NOTHING;
