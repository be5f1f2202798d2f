-- Stores each record unless the stored one is newer (versions come from PostgreSQL,
-- incremented by every write under the row lock; the JSON of a record has a top-level
-- `version`). So neither a reader holding a row it loaded before a write, nor a writer whose
-- update arrives after a later writer's, can put an older record over a newer one. An equal
-- version is the same record: it is stored again, which renews its time to live.
-- KEYS[i]: a record's key; ARGV[2i-1]: the record as JSON; ARGV[2i]: its version;
-- ARGV[#ARGV]: time to live in seconds. Returns how many records were stored.
local ttl = ARGV[#ARGV]
local stored = 0
for i, key in ipairs(KEYS) do
  local version = tonumber(ARGV[2 * i])
  local cached = redis.call('GET', key)
  local newer = true
  if cached then
    local ok, row = pcall(cjson.decode, cached)
    if ok and type(row) == 'table' and tonumber(row.version)
        and tonumber(row.version) > version then
      newer = false
    end
  end
  if newer then
    redis.call('SET', key, ARGV[2 * i - 1], 'EX', ttl)
    stored = stored + 1
  end
end
return stored
