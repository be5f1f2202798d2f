-- Decides one flash-sale purchase attempt, atomically: rate limit, idempotency, then
-- sale active, units left, the buyer's limit; an admitted attempt takes its units at once.
--
-- KEYS[1] the buyer's attempts this second   KEYS[2] the buyer's record of this key
-- KEYS[3] the sale's state (hash)            KEYS[4] units held per buyer (hash)
-- KEYS[5] the record of a rejection, by purchase id
-- ARGV[1] buyer  ARGV[2] quantity  ARGV[3] new purchase id  ARGV[4] request hash
-- ARGV[5] attempts allowed per second  ARGV[6] seconds a rejection is remembered
-- ARGV[7] seconds an admission's key is remembered
--
-- Returns {'RATE_LIMITED', ms until allowed} | {'SEEN', record} | {'REBUILD'}
--       | {'REJECTED', reason} | {'ADMITTED', counter epoch}
local attempts = redis.call('INCR', KEYS[1])
if attempts == 1 then
  redis.call('PEXPIRE', KEYS[1], 1000)
end
if attempts > tonumber(ARGV[5]) then
  return {'RATE_LIMITED', tostring(redis.call('PTTL', KEYS[1]))}
end

local seen = redis.call('GET', KEYS[2])
if seen then
  return {'SEEN', seen}
end

-- remaining, epoch, starts (ms), ends (ms), per-user limit, expires (unix s)
local sale = redis.call('HMGET', KEYS[3], 'remaining', 'epoch', 'starts', 'ends', 'limit', 'expires')
if not sale[1] then
  return {'REBUILD'}
end

local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local quantity = tonumber(ARGV[2])
local reason = nil
if now < tonumber(sale[3]) or now >= tonumber(sale[4]) then
  reason = 'NOT_ACTIVE'
elseif tonumber(sale[1]) < quantity then
  reason = 'SOLD_OUT'
elseif tonumber(redis.call('HGET', KEYS[4], ARGV[1]) or '0') + quantity > tonumber(sale[5]) then
  reason = 'LIMIT_EXCEEDED'
end
if reason then
  redis.call('SET', KEYS[2], ARGV[3] .. '|' .. ARGV[4] .. '|' .. reason, 'EX', ARGV[6])
  redis.call('SET', KEYS[5], ARGV[1] .. '|' .. reason, 'EX', ARGV[6])
  return {'REJECTED', reason}
end

redis.call('HINCRBY', KEYS[3], 'remaining', -quantity)
redis.call('HINCRBY', KEYS[4], ARGV[1], quantity)
redis.call('EXPIREAT', KEYS[4], sale[6])
-- The epoch too: whoever finds this key unrecorded can record the admission (its reply
-- may have been lost, e.g. with a master killed after running this).
redis.call('SET', KEYS[2], ARGV[3] .. '|' .. ARGV[4] .. '||' .. sale[2], 'EX', ARGV[7])
return {'ADMITTED', sale[2]}
