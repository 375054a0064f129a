-- Revokes an API key. KEYS[1] the record.
-- ARGV[2] the owner the caller must be ('' for an admin), ARGV[3] retention
-- after the revocation (us), ARGV[4] when the record is not there: how long to
-- keep a tombstone that revokes it once written (us, 0: none).
-- Returns {status, owner, the record's end (us)}: status 0 unknown, 1 revoked,
-- 2 already revoked, 3 not the caller's key, 4 tombstone written.
local now = bastion_now()
local f = redis.call('HMGET', KEYS[1], 'rec', 'own', 'exp', 'rev')
if not f[1] then
  if f[4] then
    return {2, '', 0}
  end
  local tomb = tonumber(ARGV[4])
  if tomb > 0 then
    redis.call('HSET', KEYS[1], 'rev', bastion_int(math.floor(now / 1000000)))
    bastion_expire_at(KEYS[1], now, now + tomb)
    return {4, '', 0}
  end
  return {0, '', 0}
end
-- A record past its end (retention after its expiry or revocation) is gone,
-- whether or not its TTL has run out yet.
local ends_s = tonumber(f[3])
if f[4] and (ends_s == 0 or tonumber(f[4]) < ends_s) then
  ends_s = tonumber(f[4])
end
if ends_s ~= 0 and ends_s * 1000000 + tonumber(ARGV[3]) <= now then
  return {0, '', 0}
end
if ARGV[2] ~= '' and f[2] ~= ARGV[2] then
  return {3, '', 0}
end
if f[4] then
  return {2, f[2], 0}
end
redis.call('HSET', KEYS[1], 'rev', bastion_int(math.floor(now / 1000000)))
local base = now
local exp = tonumber(f[3]) * 1000000
if exp ~= 0 and exp < now then
  base = exp
end
local ends = base + tonumber(ARGV[3])
bastion_expire_at(KEYS[1], now, ends)
return {1, f[2], ends}
