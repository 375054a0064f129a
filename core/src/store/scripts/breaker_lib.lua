-- Circuit breaker state shared by every process (see core/src/breaker).
-- KEYS[1] the state hash (also the broadcast channel), KEYS[2] the probes in
-- flight (sorted set: token -> deadline, us), KEYS[3] the count window ring
-- (one byte per call: bit 0 failure, bit 1 slow).
-- ARGV[2] policy (0 consecutive, 1 count window, 2 time window), ARGV[3]
-- fail_max / window calls / window us, ARGV[4] failure rate, ARGV[5] slow-call
-- rate (-1: none), ARGV[6] minimum calls, ARGV[7] open time (us), ARGV[8]
-- longest open time (us, -1: no backoff), ARGV[9] backoff multiplier,
-- ARGV[10] probe successes that close, ARGV[11] probes at once, ARGV[12]
-- probe timeout (us), ARGV[13] key lifetime (ms); the script's own
-- arguments follow from ARGV[14].
-- Hash fields: s state (0 closed, 1 open, 2 half-open), g generation, u open
-- until (us), t trips since the last close, c failures in a row, ps probe
-- successes, v version (raised by every call that changes the state or the
-- probes, so a process can order the replies it reads), e epoch (Redis TIME in
-- us when the hash was made: a hash lost to expiry, a flush or a restart
-- without persistence starts a later one, so a process whose mirror ran
-- ahead of it follows the new state); count window: wn next slot, wl length, wc/wf/ws totals; time
-- window: per bucket k (0-9) ik index, nk calls, fk failures, wk slow.
local now = bastion_now()
local H, PR, RING = KEYS[1], KEYS[2], KEYS[3]
local P = {
  policy = tonumber(ARGV[2]), param = tonumber(ARGV[3]), rate = tonumber(ARGV[4]),
  slow_rate = tonumber(ARGV[5]), min_calls = tonumber(ARGV[6]), reset = tonumber(ARGV[7]),
  max_reset = tonumber(ARGV[8]), mult = tonumber(ARGV[9]), threshold = tonumber(ARGV[10]),
  half_max = tonumber(ARGV[11]), probe = tonumber(ARGV[12]), ttl = tonumber(ARGV[13]),
}
local B, dirty, touched = {}, {}, false
do
  local raw = redis.call('HGETALL', H)
  for i = 1, #raw, 2 do
    B[raw[i]] = raw[i + 1]
  end
end
local function num(f)
  return tonumber(B[f] or '0')
end
local function set(f, v)
  B[f] = bastion_int(v)
  dirty[f] = true
end
if B['e'] == nil then
  local t = redis.call('TIME')
  set('e', tonumber(t[1]) * 1000000 + tonumber(t[2]))
end
local from = -1
-- The probes in flight changed (the hash did not): the version moves too.
local function touch()
  touched = true
end
-- Failures in a row when the script began: a change is broadcast too, so
-- that a success anywhere knows the shared run needs ending.
local c_before = num('c')

-- The time window's bucket width and the current bucket index.
local function bucket_now()
  local width = math.max(math.floor(P.param / 10), 1)
  return width, math.floor(now / width)
end

local function window_totals()
  if P.policy == 1 then
    return num('wc'), num('wf'), num('ws')
  elseif P.policy == 2 then
    local _, idx = bucket_now()
    local c, f, w = 0, 0, 0
    for k = 0, 9 do
      local i = B['i' .. k]
      if i and tonumber(i) > idx - 10 then
        c, f, w = c + num('n' .. k), f + num('f' .. k), w + num('w' .. k)
      end
    end
    return c, f, w
  end
  return 0, 0, 0
end

local function window_clear()
  if P.policy == 1 then
    redis.call('DEL', RING)
    for _, f in ipairs({'wn', 'wl', 'wc', 'wf', 'ws'}) do
      set(f, 0)
    end
  elseif P.policy == 2 then
    for k = 0, 9 do
      if B['i' .. k] then
        set('i' .. k, -1)
        set('n' .. k, 0)
        set('f' .. k, 0)
        set('w' .. k, 0)
      end
    end
  end
end

-- Adds `count` calls with the same bits (1 failure, 2 slow) to the window.
local function window_add(bits, count)
  if count <= 0 then
    return
  end
  local fail, slow = bits % 2, math.floor(bits / 2) % 2
  if P.policy == 1 then
    local n = P.param
    local wn, wl, wc, wf, ws = num('wn'), num('wl'), num('wc'), num('wf'), num('ws')
    -- Only the last n calls can stay in the window.
    for _ = 1, math.min(count, n) do
      if wl == n then
        local old = string.byte(redis.call('GETRANGE', RING, wn, wn)) or 0
        wc = wc - 1
        wf = wf - old % 2
        ws = ws - math.floor(old / 2) % 2
      else
        wl = wl + 1
      end
      redis.call('SETRANGE', RING, wn, string.char(bits))
      wn = (wn + 1) % n
      wc, wf, ws = wc + 1, wf + fail, ws + slow
    end
    set('wn', wn)
    set('wl', wl)
    set('wc', wc)
    set('wf', wf)
    set('ws', ws)
  elseif P.policy == 2 then
    local _, idx = bucket_now()
    local k = idx % 10
    if tonumber(B['i' .. k] or '-1') ~= idx then
      set('i' .. k, idx)
      set('n' .. k, 0)
      set('f' .. k, 0)
      set('w' .. k, 0)
    end
    set('n' .. k, num('n' .. k) + count)
    set('f' .. k, num('f' .. k) + fail * count)
    set('w' .. k, num('w' .. k) + slow * count)
  end
end

local function trips()
  if P.policy == 0 then
    return num('c') >= P.param
  end
  local calls, fails, slow = window_totals()
  if calls < P.min_calls or calls == 0 then
    return false
  end
  return fails / calls >= P.rate or (P.slow_rate >= 0 and slow / calls >= P.slow_rate)
end

local function open_time(t)
  if P.max_reset < 0 then
    return P.reset
  end
  local grown = P.reset * P.mult ^ (math.max(t, 1) - 1)
  return math.floor(math.min(grown, P.max_reset))
end

-- Moves to state `to`, starting a new generation.
local function enter(to)
  if from < 0 then
    from = num('s')
  end
  set('s', to)
  set('g', num('g') + 1)
  set('ps', 0)
  redis.call('DEL', PR)
  if to == 1 then
    local t = math.min(num('t') + 1, 1000)
    set('t', t)
    set('u', now + open_time(t))
  elseif to == 0 then
    set('t', 0)
    set('c', 0)
    window_clear()
  end
end

local function live_probes()
  if num('s') ~= 2 then
    return 0
  end
  return redis.call('ZCOUNT', PR, '(' .. bastion_int(now), '+inf')
end

-- Writes what changed, refreshes every key's lifetime, broadcasts a
-- transition or a new count of failures in a row, and returns {granted, probe, wait (us), state, generation,
-- open time left (us), failures in a row, probe successes, the state left
-- (-1: none), window calls, failures, slow, probes in flight, version, epoch}.
local function finish(granted, probe, wait)
  if touched or next(dirty) ~= nil then
    set('v', num('v') + 1)
  end
  local fields = {}
  for f in pairs(dirty) do
    fields[#fields + 1] = f
    fields[#fields + 1] = B[f]
  end
  if #fields > 0 then
    redis.call('HSET', H, unpack(fields))
    for _, k in ipairs({H, PR, RING}) do
      redis.call('PEXPIRE', k, P.ttl)
    end
  end
  local s = num('s')
  local left = 0
  if s == 1 then
    left = math.max(num('u') - now, 0)
  end
  if from >= 0 or num('c') ~= c_before then
    redis.call('PUBLISH', H, bastion_int(s) .. ' ' .. bastion_int(num('g')) .. ' ' .. bastion_int(left) .. ' ' .. bastion_int(num('c')))
  end
  local wc, wf, ws = window_totals()
  return {granted, probe, bastion_int(math.max(wait, 0)), s, num('g'), bastion_int(left), num('c'), num('ps'), from, wc, wf, ws, live_probes(), num('v'), num('e')}
end
