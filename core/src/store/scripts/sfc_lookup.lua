-- Reads a shared cache entry KEYS[1]: {now, 1, value, expires_at, delta,
-- 1 when it records "nothing found", the fence it was written under}, or
-- {now, 0}.
local now = bastion_now()
local h = redis.call('HMGET', KEYS[1], 'v', 'e', 'd', 'n', 'f')
if not h[2] then
  return {now, 0}
end
return {now, 1, h[1] or '', tonumber(h[2]), tonumber(h[3]) or 0, tonumber(h[4]) or 0,
  tonumber(h[5]) or 0}
