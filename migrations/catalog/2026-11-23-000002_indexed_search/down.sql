DROP INDEX products_name_trgm_idx;
