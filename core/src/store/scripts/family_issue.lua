-- Creates a refresh-token family.
-- KEYS[1] family hash. ARGV[2] first refresh jti, ARGV[3] family expiry (us).
-- Returns the creation time (us).
local now = bastion_now()
local exp = tonumber(ARGV[3])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'cur', ARGV[2], 'prev', '', 'prev_at', 0,
  'created', bastion_int(now), 'exp', bastion_int(exp), 'revoked', 0)
bastion_expire_at(KEYS[1], now, exp)
return now
