-- Is a token revoked? Read-only.
-- KEYS[1] the jti's revocation, KEYS[2] the subject mark, KEYS[3] the family
-- hash (optional). ARGV[2] the token's issue time (us).
-- Returns 0 valid, 1 jti revoked, 2 family revoked, 3 revoked by the subject mark.
bastion_now()
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 1
end
local issued = tonumber(ARGV[2])
if KEYS[3] then
  local f = redis.call('HMGET', KEYS[3], 'created', 'revoked')
  if f[2] == '1' then
    return 2
  end
  if f[1] then
    issued = tonumber(f[1])
  end
end
local mark = tonumber(redis.call('GET', KEYS[2]) or '-1')
if issued < mark then
  return 3
end
return 0
