-- The account lockout's shared functions (the lockout_* scripts that write).
-- A state key is a hash: f (failures counted), lf (the last failure, us), lu
-- (locked until, us; kept after the lock ends, it also dates the strikes) and
-- n (strikes: lockouts remembered for progressive cool-offs). An index is a
-- sorted set of state-key members scored by an end time (us).

-- The lock of the `n`-th strike (n >= 1): the cool-off times `factor` per
-- strike after the first, at most `cap` (us). Repeated multiplication, as the
-- memory store computes it, so both give the same microsecond.
local function lockout_duration(n, cooloff, factor, cap)
  local d = cooloff
  for _ = 2, n do
    d = d * factor
    if d >= cap then
      return cap
    end
  end
  if d > cap then
    return cap
  end
  return math.floor(d)
end

local function lockout_state(key)
  local v = redis.call('HMGET', key, 'f', 'lf', 'lu', 'n')
  return tonumber(v[1]) or 0, tonumber(v[2]) or 0, tonumber(v[3]) or 0, tonumber(v[4]) or 0
end

-- Lets the index at `key` live as long as its last member.
local function lockout_index_expire(key, now)
  local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if last[2] then
    bastion_expire_at(key, now, tonumber(last[2]))
  end
end

-- Adds (or moves) `member` at `score`, drops the members whose end has
-- passed, and keeps at most `cap` members: the ones that end soonest go first.
local function lockout_index_add(key, member, score, now, cap)
  redis.call('ZADD', key, bastion_int(score), member)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', bastion_int(now))
  local over = redis.call('ZCARD', key) - cap
  if over > 0 then
    redis.call('ZPOPMIN', key, over)
  end
  lockout_index_expire(key, now)
end

-- Removes `member` and the members whose end has passed.
local function lockout_index_remove(key, member, now)
  redis.call('ZREM', key, member)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', bastion_int(now))
  lockout_index_expire(key, now)
end

