-- Grants the lease KEYS[1] to ARGV[2] (the owner id) for ARGV[3] us when no
-- live lease is there (SET NX PX semantics), with the next fencing token from
-- the counter KEYS[2] (kept ARGV[4] us after the grant).
-- Returns {1, fence, expires_at, 1} on a grant, else {0, holder's fence,
-- expires_at, 1 when the holder is this owner else 0}.
local now = bastion_now()
local owner, ttl, keep = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local h = redis.call('HMGET', KEYS[1], 'o', 'f', 'e')
local exp = tonumber(h[3])
if h[1] and exp and exp > now then
  return {0, tonumber(h[2]), exp, lease_same_owner(h[1], owner)}
end
local fence = redis.call('INCR', KEYS[2])
bastion_expire_at(KEYS[2], now, now + math.max(ttl, keep))
exp = now + ttl
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'o', owner, 'f', fence, 'e', bastion_int(exp))
bastion_expire_at(KEYS[1], now, exp)
return {1, fence, exp, 1}
