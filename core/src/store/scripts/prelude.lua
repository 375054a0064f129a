-- bastion store prelude: shared by every script.
-- ARGV[1] is the decision time in microseconds, or -1 to use Redis TIME,
-- so that app hosts with skewed clocks agree on one clock.
local function bastion_now()
  local given = tonumber(ARGV[1])
  if given and given >= 0 then
    return given
  end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

-- PEXPIRE to an absolute microsecond instant, measured from `now`
-- (relative, so it also holds when `now` is an injected test clock).
local function bastion_expire_at(key, now, at)
  local ms = math.ceil((at - now) / 1000)
  if ms < 1 then
    redis.call('DEL', key)
  else
    redis.call('PEXPIRE', key, ms)
  end
end

-- Decimal text of an integral number (Lua would print 1.8e+15 and lose digits).
local function bastion_int(x)
  return string.format('%d', x)
end

