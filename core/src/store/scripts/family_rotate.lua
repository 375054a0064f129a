-- Rotates a refresh token of a family, atomically.
-- KEYS[1] family hash, KEYS[2] subject "not before" mark, KEYS[3] presented jti's revocation.
-- ARGV[2] presented jti, ARGV[3] new jti, ARGV[4] new family expiry (us),
-- ARGV[5] grace window (us).
-- Returns {status, created}: status 0 rotated, 1 unknown or expired family,
-- 2 family revoked, 3 revoked by the subject mark, 4 jti revoked,
-- 5 reuse (the family is now revoked), 6 rotated moments ago (grace).
local now = bastion_now()
if redis.call('EXISTS', KEYS[3]) == 1 then
  return {4, 0}
end
local f = redis.call('HMGET', KEYS[1], 'cur', 'prev', 'prev_at', 'created', 'exp', 'revoked')
if not f[1] then
  return {1, 0}
end
local created = tonumber(f[4])
if tonumber(f[5]) <= now then
  return {1, created}
end
if f[6] == '1' then
  return {2, created}
end
local mark = tonumber(redis.call('GET', KEYS[2]) or '-1')
if created < mark then
  return {3, created}
end
if f[1] == ARGV[2] then
  local exp = math.max(tonumber(ARGV[4]), tonumber(f[5]))
  redis.call('HSET', KEYS[1], 'cur', ARGV[3], 'prev', ARGV[2], 'prev_at', bastion_int(now), 'exp', bastion_int(exp))
  bastion_expire_at(KEYS[1], now, exp)
  return {0, created}
end
local grace = tonumber(ARGV[5])
if grace > 0 and f[2] == ARGV[2] and now - tonumber(f[3]) < grace then
  return {6, created}
end
redis.call('HSET', KEYS[1], 'revoked', 1)
return {5, created}
