-- Lists the keys of an owner's index, dropping entries past their end.
-- KEYS[1] the owner's index.
-- Returns {now (us), id, indexed at (us), id, indexed at, ...}.
local now = bastion_now()
local entries = redis.call('HGETALL', KEYS[1])
local out = {now}
for i = 1, #entries, 2 do
  local v = entries[i + 1]
  local sep = string.find(v, ':', 1, true)
  local kept = tonumber(string.sub(v, sep + 1))
  if kept ~= 0 and kept <= now then
    redis.call('HDEL', KEYS[1], entries[i])
  else
    out[#out + 1] = entries[i]
    out[#out + 1] = string.sub(v, 1, sep - 1)
  end
end
return out
