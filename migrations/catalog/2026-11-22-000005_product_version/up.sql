-- Every write to a product row increments its version (under the row lock), so the commit
-- order of concurrent writes is known: the product cache keeps the newest row whatever
-- order the writers' cache updates arrive in.
ALTER TABLE products ADD COLUMN version bigint NOT NULL DEFAULT 1;
