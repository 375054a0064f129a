-- Asks for a permit when the mirror says the breaker is open past its time
-- or half-open. ARGV[14] the probe token (unique per permit).
if num('s') == 1 and now >= num('u') then
  enter(2)
end
local s = num('s')
if s == 0 then
  return finish(1, 0, 0)
elseif s == 1 then
  return finish(0, 0, num('u') - now)
end
redis.call('ZREMRANGEBYSCORE', PR, '-inf', now)
if redis.call('ZCARD', PR) < P.half_max then
  redis.call('ZADD', PR, now + P.probe, ARGV[14])
  touch()
  redis.call('PEXPIRE', PR, P.ttl)
  return finish(1, 1, 0)
end
local first = redis.call('ZRANGE', PR, 0, 0, 'WITHSCORES')
return finish(0, 0, tonumber(first[2]) - now)
