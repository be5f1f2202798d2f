-- The checkout's stock functions keep one plan per connection for their statements (a
-- generic plan) instead of planning them again at every call. With the default
-- `plan_cache_mode = auto`, PostgreSQL kept choosing custom plans for their `= ANY($1)`
-- statements, so every checkout parsed, inlined (`resolve_stock_lines`) and planned them
-- again: in a profile of the checkout bench, PostgreSQL took 62 % of the machine, mostly
-- parsing and planning; with generic plans the bench made 307 checkouts/s against 220
-- (benches/README.md, Checkout). A later CREATE OR REPLACE of these functions must repeat
-- the SET clause.
ALTER FUNCTION reserve_stock(uuid, uuid[], uuid[], integer[])
    SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION release_stock(uuid, text)
    SET plan_cache_mode = force_generic_plan;
