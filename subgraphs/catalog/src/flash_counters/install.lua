-- Installs a sale's counters computed from PostgreSQL at `epoch`, unless counters of this
-- epoch or a later one are there already (a concurrent rebuild won).
--
-- KEYS[1] the sale's state (hash)   KEYS[2] units held per buyer (hash)
-- ARGV[1] epoch  ARGV[2] remaining  ARGV[3] starts (ms)  ARGV[4] ends (ms)
-- ARGV[5] per-user limit  ARGV[6] expires (unix s)  ARGV[7..] buyer, units, buyer, units…
--
-- Returns 1 when installed.
local current = redis.call('HGET', KEYS[1], 'epoch')
if current and tonumber(current) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('HSET', KEYS[1], 'remaining', ARGV[2], 'epoch', ARGV[1], 'starts', ARGV[3],
  'ends', ARGV[4], 'limit', ARGV[5], 'expires', ARGV[6])
redis.call('EXPIREAT', KEYS[1], ARGV[6])
for i = 7, #ARGV, 2 do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
end
redis.call('EXPIREAT', KEYS[2], ARGV[6])
return 1
