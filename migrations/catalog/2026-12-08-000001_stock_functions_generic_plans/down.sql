ALTER FUNCTION reserve_stock(uuid, uuid[], uuid[], integer[]) RESET plan_cache_mode;
ALTER FUNCTION release_stock(uuid, text) RESET plan_cache_mode;
