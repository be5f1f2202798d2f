-- Stores each product row unless the cached one is at least as new (versions come from
-- PostgreSQL, incremented by every write under the row lock). So neither a reader holding a
-- row it loaded before a write, nor a writer whose cache update arrives after a later
-- writer's, can put an older row over a newer one.
-- KEYS[i]: a product's key; ARGV[2i-1]: its row as JSON; ARGV[2i]: the row's version;
-- ARGV[#ARGV]: time to live in seconds. Returns how many rows were stored.
local ttl = ARGV[#ARGV]
local stored = 0
for i, key in ipairs(KEYS) do
  local version = tonumber(ARGV[2 * i])
  local cached = redis.call('GET', key)
  local newer = true
  if cached then
    local ok, row = pcall(cjson.decode, cached)
    if ok and type(row) == 'table' and tonumber(row.version)
        and tonumber(row.version) >= version then
      newer = false
    end
  end
  if newer then
    redis.call('SET', key, ARGV[2 * i - 1], 'EX', ttl)
    stored = stored + 1
  end
end
return stored
