-- A leader's fill of the shared cache entry KEYS[2], fenced: it is written
-- only when the lease counter KEYS[1] still equals the leader's fencing token
-- ARGV[3] (no newer grant since), then the lease KEYS[3] is released when it
-- is still the leader's (owner ARGV[2]). Every write sets its TTL here.
-- ARGV[4]: 'keep' (write the value), 'drop' (delete the entry: nothing found,
-- not kept) or 'none' (the computation failed: release only); ARGV[5] value,
-- ARGV[6] 1 for a kept "nothing found", ARGV[7] how long it is fresh (us),
-- ARGV[8] delta (us), ARGV[9] how long it is kept after that (us);
-- ARGV[10] channel ('' none), ARGV[11] payload (the lease key), ARGV[12] the
-- value's blob for the waiters ('x': read it back). A written value is
-- published as news, `<lease key>\n<fence>:<blob>` (the waiters need not
-- read it back, and the other processes' local tiers drop older copies); a
-- release alone as the lease key.
-- Returns {written (1/0), released (1/0), now}.
local now = bastion_now()
local fence = ARGV[3]
local written = 0
if ARGV[4] ~= 'none' and redis.call('GET', KEYS[1]) == fence then
  if ARGV[4] == 'keep' then
    local exp = now + tonumber(ARGV[7])
    redis.call('DEL', KEYS[2])
    redis.call('HSET', KEYS[2], 'v', ARGV[5], 'n', ARGV[6], 'e', bastion_int(exp),
      'd', ARGV[8], 'f', fence)
    bastion_expire_at(KEYS[2], now, exp + tonumber(ARGV[9]))
  else
    redis.call('DEL', KEYS[2])
  end
  written = 1
end
local released = 0
if lease_owned(KEYS[3], ARGV[2], fence, now) then
  redis.call('DEL', KEYS[3])
  released = 1
end
if written == 1 then
  lease_publish(ARGV[10], ARGV[11] .. '\n' .. fence .. ':' .. ARGV[12])
elseif released == 1 then
  lease_publish(ARGV[10], ARGV[11])
end
return {written, released, now}
