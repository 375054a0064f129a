-- Stores an API key's digest under the current pepper, unless the record
-- changed since it was read. KEYS[1] the record. ARGV[2] the digest that
-- verified, ARGV[3] the new record's bytes, ARGV[4] the new digest.
-- Returns 1 replaced, 0 left alone (changed, revoked or gone). The TTL is kept.
bastion_now()
local f = redis.call('HMGET', KEYS[1], 'dig', 'rev')
if f[1] == ARGV[2] and not f[2] then
  redis.call('HSET', KEYS[1], 'rec', ARGV[3], 'dig', ARGV[4])
  return 1
end
return 0
