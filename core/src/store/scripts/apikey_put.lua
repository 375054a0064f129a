-- Writes an API key's record; runs after its owner's index holds the key.
-- KEYS[1] the record, a hash: rec (the record's bytes), dig (its digest), own
-- (its owner), exp (its expiry in s, 0: none), rev (when it was revoked, s).
-- ARGV[2] the record's bytes, ARGV[3] the digest, ARGV[4] the owner, ARGV[5] the
-- expiry (s, 0: none), ARGV[6] retention after the expiry or revocation (us).
-- Returns 0 written; 1 written revoked (a revoke_all of the owner reached the
-- key first and left a tombstone).
local now = bastion_now()
local rev = redis.call('HGET', KEYS[1], 'rev')
redis.call('HSET', KEYS[1], 'rec', ARGV[2], 'dig', ARGV[3], 'own', ARGV[4], 'exp', ARGV[5])
if rev then
  bastion_expire_at(KEYS[1], now, now + tonumber(ARGV[6]))
  return 1
end
local exp = tonumber(ARGV[5])
if exp == 0 then
  -- The one record without a TTL: a key that never expires, while it is valid.
  redis.call('PERSIST', KEYS[1])
else
  bastion_expire_at(KEYS[1], now, exp * 1000000 + tonumber(ARGV[6]))
end
return 0
