-- Indexes a new API key under its owner; runs before the key's record is written.
-- KEYS[1] the owner's index (see apikey_owner.lua; kept until 0: the key never
-- expires).
-- ARGV[2] key id, ARGV[3] expiry (s since the epoch, 0: none), ARGV[4] lifetime
-- (s, 0: none; used when ARGV[3] is 0), ARGV[5] retention after the expiry (us),
-- ARGV[6] the most keys one owner may hold, ARGV[7] the longest lifetime (s).
-- Returns {status, now (us), expiry (s, 0: none)}: status 0 indexed, 1 the owner
-- holds the most keys, 2 the expiry is not in the future, 3 it is too far.
local now = bastion_now()
local now_s = math.floor(now / 1000000)
local exp = tonumber(ARGV[3])
if exp == 0 and tonumber(ARGV[4]) > 0 then
  exp = now_s + tonumber(ARGV[4])
end
if exp ~= 0 and exp <= now_s then
  return {2, now, exp}
end
if exp ~= 0 and exp - now_s > tonumber(ARGV[7]) then
  return {3, now, exp}
end
local keep = 0
if exp ~= 0 then
  keep = exp * 1000000 + tonumber(ARGV[5])
end
local live = apikey_owner_live(KEYS[1], now)
if #live >= tonumber(ARGV[6]) then
  return {1, now, exp}
end
redis.call('HSET', KEYS[1], ARGV[2], bastion_int(now) .. ':' .. bastion_int(keep))
apikey_owner_expire(KEYS[1], now, live, keep)
return {0, now, exp}
