-- Revokes everything a subject holds: a "not before" mark.
-- KEYS[1] the subject mark. ARGV[2] how long the mark lives (us): the longest
-- lifetime of any token it must cover. Returns the mark (us).
local now = bastion_now()
local mark = math.max(now, tonumber(redis.call('GET', KEYS[1]) or '0'))
redis.call('SET', KEYS[1], bastion_int(mark))
bastion_expire_at(KEYS[1], now, now + tonumber(ARGV[2]))
return mark
