-- Gives a buyer's units back to a sale's counters: an admission rolled back, or the order
-- of a purchase cancelled, expired or refunded. Only into the counters that counted them
-- (same epoch): counters rebuilt since then were rebuilt without them.
--
-- KEYS[1] the sale's state (hash)   KEYS[2] units held per buyer (hash)
-- KEYS[3] (optional) the buyer's record of the purchase's key, forgotten if it is still
--         this purchase's, so that the key can be used again
-- ARGV[1] buyer  ARGV[2] quantity  ARGV[3] epoch that counted them  ARGV[4] purchase id
--
-- Returns 1 when the counters took them back, 0 when they did not count them.
if KEYS[3] then
  local record = redis.call('GET', KEYS[3])
  if record and string.sub(record, 1, #ARGV[4]) == ARGV[4] then
    redis.call('DEL', KEYS[3])
  end
end
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[3] then
  return 0
end
redis.call('HINCRBY', KEYS[1], 'remaining', ARGV[2])
if redis.call('HINCRBY', KEYS[2], ARGV[1], -tonumber(ARGV[2])) <= 0 then
  redis.call('HDEL', KEYS[2], ARGV[1])
end
return 1
