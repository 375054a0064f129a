-- Reads the state of every key of an attempt. Read-only.
-- KEYS[1..n] the state keys. ARGV[2] cool-off (us).
-- Returns {now, then per key: locked (1/0), locked until (us), failures}.
local now = bastion_now()
local cooloff = tonumber(ARGV[2])
local out = {now}
for i = 1, #KEYS do
  local v = redis.call('HMGET', KEYS[i], 'f', 'lf', 'lu')
  local f, lf, lu = tonumber(v[1]) or 0, tonumber(v[2]) or 0, tonumber(v[3]) or 0
  local locked = 0
  if lu > now then
    locked = 1
  elseif lf + cooloff <= now or lf < lu then
    f = 0
  end
  out[#out + 1] = locked
  out[#out + 1] = lu
  out[#out + 1] = f
end
return out
