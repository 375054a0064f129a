-- Revokes a refresh-token family. KEYS[1] the family hash.
-- Returns 1 when the family existed.
bastion_now()
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'revoked', 1)
  return 1
end
return 0
