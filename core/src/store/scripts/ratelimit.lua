-- One rate-limit decision over one or more limits of one client key, atomically.
-- The Redis form of core/src/ratelimit/algorithm.rs: same rules, same integer
-- microsecond arithmetic, same double operations for the weighted estimate.
-- KEYS[i]: the state of limit i (all under one hash tag).
-- ARGV[2] algorithm: 1 sliding window (log), 2 sliding counter, 3 fixed window, 4 gcra
-- ARGV[3] operation: 0 check (charge when every limit admits), 1 peek, 2 refund, 3 reset
-- ARGV[4] cost; then per limit i: ARGV[3 + 2i] limit, ARGV[4 + 2i] window (us).
-- Returns {admitted, denying limit (1-based, 0 for none), then per limit:
--          admitted, remaining, reset_after (us), retry_after (us)};
-- a refund or a reset returns {1, 0}.
local now = bastion_now()
local alg = tonumber(ARGV[2])
local op = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local n = #KEYS

if op == 3 then
  redis.call('DEL', unpack(KEYS))
  return {1, 0}
end

local function floor_div(a, b)
  local q = math.floor(a / b)
  if q * b > a then q = q - 1 end
  return q
end

local function weighted(prev, w, e)
  return math.ceil(prev * (w - e) / w)
end

local function first_fit(prev, w, room)
  local e = math.max(0, math.ceil(w - room * w / prev))
  while e > 0 and weighted(prev, w, e - 1) <= room do e = e - 1 end
  while e < w and weighted(prev, w, e) > room do e = e + 1 end
  return e
end

local function counter_retry(prev, cur, w, e, limit, cost)
  local room = limit - cur - cost
  if room >= 0 and prev > 0 then
    local at = first_fit(prev, w, room)
    if at < w then return math.max(0, at - e) end
  end
  local at = 0
  if cur > 0 then at = first_fit(cur, w, limit - cost) end
  return (w - e) + at
end

-- Load every limit's state as of now (drop expired log entries, roll windows).
local st = {}
for i = 1, n do
  local limit = tonumber(ARGV[3 + 2 * i])
  local w = tonumber(ARGV[4 + 2 * i])
  local key = KEYS[i]
  local s = {limit = limit, w = w}
  if alg == 1 then
    while true do
      local head = redis.call('LINDEX', key, 0)
      if not head or tonumber(head) + w > now then break end
      redis.call('LPOP', key)
    end
    s.used = redis.call('LLEN', key)
  elseif alg == 2 or alg == 3 then
    local index = floor_div(now, w)
    local f = redis.call('HMGET', key, 'i', 'c', 'p')
    local i, c, p = tonumber(f[1]), tonumber(f[2]) or 0, tonumber(f[3]) or 0
    s.index = index
    if i == index then
      s.cur, s.prev = c, p
    elseif i == index - 1 then
      s.cur, s.prev = 0, c
    else
      s.cur, s.prev = 0, 0
    end
  else
    local tat = tonumber(redis.call('GET', key) or '0')
    s.tat = math.max(tat, now)
    s.t = floor_div(w, limit)
  end
  st[i] = s
end

-- Evaluate every limit (with the given cost).
local function eval(s, key, cost)
  local limit, w = s.limit, s.w
  if alg == 1 then
    local ok = s.used + cost <= limit
    local after, reset, retry = s.used, 0, 0
    if ok and cost > 0 then
      after = s.used + cost
      reset = w
    else
      local newest = redis.call('LINDEX', key, -1)
      if newest then reset = tonumber(newest) + w - now end
    end
    if not ok then
      local oldest = redis.call('LINDEX', key, math.max(0, s.used + cost - limit - 1))
      if oldest then retry = tonumber(oldest) + w - now else retry = w end
    end
    return ok, limit - after, reset, retry
  elseif alg == 2 then
    local e = now - s.index * w
    local used = weighted(s.prev, w, e) + s.cur
    local ok = used + cost <= limit
    local after, cur_after, retry = used, s.cur, 0
    if ok then
      after = used + cost
      cur_after = s.cur + cost
    else
      retry = counter_retry(s.prev, s.cur, w, e, limit, cost)
    end
    local reset = 0
    if cur_after > 0 then
      reset = 2 * w - e
    elseif s.prev > 0 then
      reset = w - e
    end
    return ok, math.max(0, limit - after), reset, retry
  elseif alg == 3 then
    local ok = s.cur + cost <= limit
    local after = s.cur
    if ok then after = s.cur + cost end
    local finish = (s.index + 1) * w - now
    local reset, retry = 0, 0
    if after > 0 then reset = finish end
    if not ok then retry = finish end
    return ok, limit - after, reset, retry
  else
    -- The arrival time may run `limit` emission intervals ahead (the
    -- window less what rounding T down left over).
    local span = limit * s.t
    local new_tat = s.tat + cost * s.t
    local ok = new_tat - now <= span
    local at, retry = s.tat, 0
    if ok then at = new_tat else retry = new_tat - span - now end
    local rem = math.floor((span - (at - now)) / s.t)
    rem = math.max(0, math.min(limit, rem))
    return ok, rem, at - now, retry
  end
end

local out = {1, 0}
local worst = -1
local all = true
for i = 1, n do
  local ok, rem, reset, retry = eval(st[i], KEYS[i], cost)
  if op == 1 then
    -- A peek reports the state as it is, not after the charge.
    local _, rem0, reset0 = eval(st[i], KEYS[i], 0)
    rem, reset = rem0, reset0
  end
  local flag = 0
  if ok then flag = 1 end
  if not ok then
    all = false
    if retry > worst then
      worst = retry
      out[2] = i
    end
  end
  table.insert(out, flag)
  table.insert(out, rem)
  table.insert(out, reset)
  table.insert(out, retry)
end
if not all then out[1] = 0 end

-- Persist: check charges only when every limit admits; refund gives back.
-- A peek, and a denied check, write nothing.
local function save(s, key)
  if alg == 1 then
    if op == 0 then
      -- Just charged: the newest entry is now.
      redis.call('PEXPIRE', key, math.ceil(s.w / 1000))
    else
      local newest = redis.call('LINDEX', key, -1)
      if newest then
        bastion_expire_at(key, now, tonumber(newest) + s.w)
      end
    end
  elseif alg == 2 then
    if s.cur == 0 and s.prev == 0 then
      redis.call('DEL', key)
    else
      redis.call('HSET', key, 'i', bastion_int(s.index), 'c', bastion_int(s.cur), 'p', bastion_int(s.prev))
      bastion_expire_at(key, now, (s.index + 2) * s.w)
    end
  elseif alg == 3 then
    if s.cur == 0 then
      redis.call('DEL', key)
    else
      redis.call('HSET', key, 'i', bastion_int(s.index), 'c', bastion_int(s.cur))
      bastion_expire_at(key, now, (s.index + 1) * s.w)
    end
  else
    if s.tat <= now then
      redis.call('DEL', key)
    else
      -- The value and its expiry in one command (s.tat > now here).
      redis.call('SET', key, bastion_int(s.tat), 'PX', math.ceil((s.tat - now) / 1000))
    end
  end
end

if (op == 0 and all) or op == 2 then
  for i = 1, n do
    local s, key = st[i], KEYS[i]
    if op == 0 then
      if alg == 1 then
        local left = cost
        local stamp = bastion_int(now)
        while left > 0 do
          local batch = {}
          for _ = 1, math.min(left, 1000) do table.insert(batch, stamp) end
          redis.call('RPUSH', key, unpack(batch))
          left = left - #batch
        end
      elseif alg == 2 or alg == 3 then
        s.cur = s.cur + cost
      else
        s.tat = s.tat + cost * s.t
      end
    else
      if alg == 1 then
        local drop = math.min(cost, s.used)
        if drop > 0 then redis.call('RPOP', key, drop) end
      elseif alg == 2 or alg == 3 then
        s.cur = math.max(0, s.cur - cost)
      else
        s.tat = math.max(now, s.tat - cost * s.t)
      end
    end
    save(s, key)
  end
end
if op == 2 then
  return {1, 0}
end
return out
