-- Revokes one token by jti until its expiry.
-- KEYS[1] the jti's revocation, KEYS[2] the family hash (optional: a refresh
-- token's family is revoked with it). ARGV[2] the token's expiry (us).
-- Returns 1 when written, 0 when the token had already expired.
local now = bastion_now()
local exp = tonumber(ARGV[2])
if KEYS[2] and redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('HSET', KEYS[2], 'revoked', 1)
end
if exp <= now then
  return 0
end
redis.call('SET', KEYS[1], 1)
bastion_expire_at(KEYS[1], now, exp)
return 1
