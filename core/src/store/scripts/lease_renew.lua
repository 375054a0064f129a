-- Extends the lease KEYS[1] held by ARGV[2] (grant ARGV[3]) to ARGV[4] us
-- from now. Returns {1, fence, expires_at}, or {0} when it is not held by
-- that owner and grant (expired, released or taken over).
local now = bastion_now()
local ok, h = lease_owned(KEYS[1], ARGV[2], ARGV[3], now)
if not ok then
  return {0}
end
local exp = now + tonumber(ARGV[4])
redis.call('HSET', KEYS[1], 'e', bastion_int(exp))
bastion_expire_at(KEYS[1], now, exp)
return {1, tonumber(h[2]), exp}
