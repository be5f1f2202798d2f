-- Decides flash-sale purchase attempts of one sale, each atomically and in order: rate
-- limit, idempotency (a replay of the same attempt is answered what it got, uncounted),
-- then sale active, units left, the buyer's limit; an admitted attempt takes its units at
-- once. Attempts that arrive together are decided in one call (see
-- `flash_counters/admissions.rs`): one round trip instead of one each.
--
-- KEYS[1] the sale's state (hash)   KEYS[2] units held per buyer (hash)
-- then for attempt i (from 0): KEYS[3+3i] the buyer's attempts this second,
--   KEYS[4+3i] the buyer's record of this key, KEYS[5+3i] the record of a rejection by
--   purchase id
-- ARGV[1] seconds a rejection is remembered  ARGV[2] seconds an admission's key is remembered
-- then for attempt i: ARGV[3+5i] buyer, ARGV[4+5i] quantity, ARGV[5+5i] new purchase id,
--   ARGV[6+5i] request hash, ARGV[7+5i] the buyer's attempts allowed per second
--
-- Returns two entries per attempt: 'RATE_LIMITED', ms until allowed | 'SEEN', record
--   | 'REBUILD', '' | 'REJECTED', reason | 'ADMITTED', counter epoch
-- remaining, epoch, starts (ms), ends (ms), per-user limit, expires (unix s)
local sale = redis.call('HMGET', KEYS[1], 'remaining', 'epoch', 'starts', 'ends', 'limit', 'expires')
local remaining = tonumber(sale[1])
local now = nil
local taken = 0
local out = {}

local function decide(rate, record, rejected, buyer, quantity, purchase, hash, per_second)
  local seen = redis.call('GET', record)
  -- This very attempt again (its call's reply was lost and the call was sent again, by the
  -- cluster client say): what it got, and it is not counted again.
  if seen and string.sub(seen, 1, #purchase) == purchase then
    return 'SEEN', seen
  end
  local attempts = redis.call('INCR', rate)
  if attempts == 1 then
    redis.call('PEXPIRE', rate, 1000)
  end
  if attempts > per_second then
    return 'RATE_LIMITED', tostring(redis.call('PTTL', rate))
  end
  if seen then
    return 'SEEN', seen
  end
  if not remaining then
    return 'REBUILD', ''
  end
  if not now then
    local clock = redis.call('TIME')
    now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
  end
  local reason = nil
  if now < tonumber(sale[3]) or now >= tonumber(sale[4]) then
    reason = 'NOT_ACTIVE'
  elseif remaining < quantity then
    reason = 'SOLD_OUT'
  elseif tonumber(redis.call('HGET', KEYS[2], buyer) or '0') + quantity > tonumber(sale[5]) then
    reason = 'LIMIT_EXCEEDED'
  end
  if reason then
    redis.call('SET', record, purchase .. '|' .. hash .. '|' .. reason, 'EX', ARGV[1])
    redis.call('SET', rejected, buyer .. '|' .. reason, 'EX', ARGV[1])
    return 'REJECTED', reason
  end
  remaining = remaining - quantity
  taken = taken + quantity
  redis.call('HINCRBY', KEYS[2], buyer, quantity)
  -- The epoch too: whoever finds this key unrecorded can record the admission (its reply
  -- may have been lost, e.g. with a master killed after running this).
  redis.call('SET', record, purchase .. '|' .. hash .. '||' .. sale[2], 'EX', ARGV[2])
  return 'ADMITTED', sale[2]
end

for i = 0, (#KEYS - 2) / 3 - 1 do
  local kind, value = decide(KEYS[3 + 3 * i], KEYS[4 + 3 * i], KEYS[5 + 3 * i],
    ARGV[3 + 5 * i], tonumber(ARGV[4 + 5 * i]), ARGV[5 + 5 * i], ARGV[6 + 5 * i],
    tonumber(ARGV[7 + 5 * i]))
  out[#out + 1] = kind
  out[#out + 1] = value
end
if taken > 0 then
  redis.call('HINCRBY', KEYS[1], 'remaining', -taken)
  redis.call('EXPIREAT', KEYS[2], sale[6])
end
return out
