-- The live lease KEYS[1]: {1, owner, fence, expires_at}, or {0}.
local now = bastion_now()
local h = redis.call('HMGET', KEYS[1], 'o', 'f', 'e')
local exp = tonumber(h[3])
if h[1] and exp and exp > now then
  return {1, h[1], tonumber(h[2]), exp}
end
return {0}
