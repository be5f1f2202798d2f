-- Counts one attempt on a counter, then decides: 0 when the count is within its limit,
-- otherwise the seconds until the window ends. Counting before deciding, in one script,
-- means N parallel attempts take N distinct counts: at most `limit` of them are let
-- through, however they interleave. (Called once per counter: one key per call, so the
-- counters may live in different Redis Cluster slots.)
-- KEYS[1]: the counter; ARGV[1]: window in seconds (it starts at the counter's first
-- attempt); ARGV[2]: its limit.
local window = tonumber(ARGV[1])
local wait = 0
for i, key in ipairs(KEYS) do
  local count = redis.call('INCR', key)
  local ttl = redis.call('TTL', key)
  if ttl < 0 then
    redis.call('EXPIRE', key, window)
    ttl = window
  end
  if count > tonumber(ARGV[i + 1]) and ttl > wait then
    wait = ttl
  end
end
return wait
