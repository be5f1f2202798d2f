-- What a stream's consumer groups have handled, and which entries the stream still has, in
-- one atomic read (the producer's settle step, crates/event-bus/src/settle.rs).
--
-- KEYS[1] the stream
-- ARGV[1] n, the number of groups   ARGV[2..n+1] group names   ARGV[n+2..] entry ids
--
-- Returns {groups, entries}: groups[i] is {last delivered id, smallest pending id or ''},
-- or nil when the stream or the group does not exist; entries[j] is the entry's `event`
-- field, or nil when the stream does not have that entry.
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
  entries[j - n - 1] = event
end
return {groups, entries}
