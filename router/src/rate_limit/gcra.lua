-- Several GCRA (generic cell rate algorithm) limits checked and counted together: the
-- request is counted against every one of KEYS only if all of them allow it. The router
-- calls it with keys of one hash tag at a time (an address's limit; a caller's per-user
-- limits), so it runs on Redis Cluster.
--
-- KEYS[i]: the limit's state (its theoretical arrival time, ms)
-- ARGV[2i-1]: emission interval (ms per request)   ARGV[2i]: burst (requests at once)
--
-- Returns {0, 0} when allowed, else {index of the first limit refusing (1-based), ms until
-- it would allow}.
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local arrivals = {}
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < now then
    tat = now
  end
  local next_tat = tat + interval
  local wait = next_tat - now - interval * burst
  if wait > 0 then
    return {i, math.ceil(wait)}
  end
  arrivals[i] = next_tat
end
for i, key in ipairs(KEYS) do
  redis.call('SET', key, arrivals[i], 'PX', math.ceil(arrivals[i] - now) + 1000)
end
return {0, 0}
