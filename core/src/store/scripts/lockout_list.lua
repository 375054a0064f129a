-- One page of the locks in force, soonest to end first. Read-only.
-- KEYS[1] the index of locked keys. ARGV[2] offset, ARGV[3] page size.
-- Returns {now, member, locked until (us), member, locked until, ...}.
local now = bastion_now()
local page = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. bastion_int(now), '+inf',
  'WITHSCORES', 'LIMIT', ARGV[2], ARGV[3])
local out = {now}
for i = 1, #page do
  out[#out + 1] = page[i]
end
return out
