-- Deletes the lease KEYS[1] when it is held by ARGV[2] (grant ARGV[3]; '0'
-- any grant of that owner), or whoever holds it when ARGV[4] is '1' (a
-- reset); publishes ARGV[6] on the channel ARGV[5] when it ended a live
-- lease. Returns 1 when it did, else 0.
local now = bastion_now()
local ok
if ARGV[4] == '1' then
  local e = tonumber(redis.call('HGET', KEYS[1], 'e'))
  ok = e ~= nil and e > now
  redis.call('DEL', KEYS[1])
else
  ok = lease_owned(KEYS[1], ARGV[2], ARGV[3], now)
  if ok then
    redis.call('DEL', KEYS[1])
  end
end
if not ok then
  return 0
end
lease_publish(ARGV[5], ARGV[6])
return 1
