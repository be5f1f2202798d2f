-- What a stream's consumer groups have handled, which entries the stream still has, and
-- which of them a group dead-lettered, in one atomic read (the producer's settle step,
-- crates/event-bus/src/settle.rs). Both keys share the stream's hash tag.
--
-- KEYS[1] the stream   KEYS[2] its dead letters (hash, field `<group>/<entry id>`)
-- ARGV[1] n, the number of groups   ARGV[2..n+1] group names   ARGV[n+2..] entry ids
--
-- Returns {groups, entries, dead}: groups[i] is {last delivered id, smallest pending id or
-- ''}, or nil when the stream or the group does not exist; entries[j] is the entry's
-- `event` field, or nil when the stream does not have that entry; dead[j] is the first
-- dead-letter record of entry j, or nil.
local n = tonumber(ARGV[1])
local exists = redis.call('EXISTS', KEYS[1]) == 1
local delivered = {}
if exists then
  for _, group in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
    local name, last
    for i = 1, #group, 2 do
      if group[i] == 'name' then
        name = group[i + 1]
      elseif group[i] == 'last-delivered-id' then
        last = group[i + 1]
      end
    end
    delivered[name] = last
  end
end
local groups = {}
for i = 1, n do
  local name = ARGV[1 + i]
  local last = delivered[name]
  if last then
    local pending = redis.call('XPENDING', KEYS[1], name)
    groups[i] = {last, pending[2] or ''}
  else
    groups[i] = false
  end
end
local entries = {}
local dead = {}
for j = n + 2, #ARGV do
  local event = false
  if exists then
    local found = redis.call('XRANGE', KEYS[1], ARGV[j], ARGV[j])
    if #found == 1 then
      local fields = found[1][2]
      for k = 1, #fields, 2 do
        if fields[k] == 'event' then
          event = fields[k + 1]
        end
      end
    end
  end
  local record = false
  for i = 1, n do
    record = record or redis.call('HGET', KEYS[2], ARGV[1 + i] .. '/' .. ARGV[j])
  end
  entries[j - n - 1] = event
  dead[j - n - 1] = record
end
return {groups, entries, dead}
