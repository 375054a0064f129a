-- Updates an owner's index after revocations, and drops ids whose records are
-- missing. KEYS[1] the owner's index. ARGV[2] grace (us): an id whose record is
-- missing is dropped only once it was indexed longer ago than this (its record
-- may still be on its way). ARGV[3..] pairs (id, end in us): an end of -1 drops
-- the id (its record is missing); another end shortens the id's entry to it.
-- The index then lives as long as its longest entry, or without a TTL while an
-- entry has no end. Returns the number of entries changed.
local now = bastion_now()
local changed = 0
for i = 3, #ARGV, 2 do
  local v = redis.call('HGET', KEYS[1], ARGV[i])
  if v then
    local sep = string.find(v, ':', 1, true)
    local at = tonumber(string.sub(v, 1, sep - 1))
    local kept = tonumber(string.sub(v, sep + 1))
    local ends = tonumber(ARGV[i + 1])
    if ends < 0 then
      if at + tonumber(ARGV[2]) <= now then
        redis.call('HDEL', KEYS[1], ARGV[i])
        changed = changed + 1
      end
    elseif kept == 0 or ends < kept then
      redis.call('HSET', KEYS[1], ARGV[i], string.sub(v, 1, sep) .. bastion_int(ends))
      changed = changed + 1
    end
  end
end
if changed > 0 then
  apikey_owner_expire(KEYS[1], now, apikey_owner_live(KEYS[1], now), nil)
end
return changed
