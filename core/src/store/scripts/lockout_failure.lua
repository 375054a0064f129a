-- Records one failed attempt against every key of an attempt, atomically.
-- KEYS[1..n] the state keys, KEYS[n+1] the index of locked keys, then the
-- per-value indexes (username, IP) of combination keys.
-- ARGV[2] n, ARGV[3] failure limit, ARGV[4] cool-off (us), ARGV[5] most
-- failures counted, ARGV[6] 1: a failure during a lock restarts its cool-off,
-- ARGV[7] progressive factor, ARGV[8] longest cool-off (us), ARGV[9] how long
-- strikes are remembered after a lock ends (us), ARGV[10] most members of the
-- locked index, ARGV[11] most members of a value index; then, per state key,
-- its member and the KEYS positions of its username and IP indexes (0: none).
-- Returns {now, then per key: locked (1/0), locked until (us), failures,
-- 1 when this failure started the lock}.
local now = bastion_now()
local n = tonumber(ARGV[2])
local limit, cooloff, maxf = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local extend = ARGV[6] == '1'
local factor, cap, memory = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local locked_cap, index_cap = tonumber(ARGV[10]), tonumber(ARGV[11])
local out = {now}
for i = 1, n do
  local base = 11 + 3 * (i - 1)
  local key, member = KEYS[i], ARGV[base + 1]
  local f, lf, lu, s = lockout_state(key)
  if s > 0 and lu + memory <= now then
    s = 0
  end
  local started, moved = 0, false
  if lu > now then
    f = math.min(f + 1, maxf)
    lf = now
    if extend then
      lu = now + lockout_duration(math.max(s, 1), cooloff, factor, cap)
      moved = true
    end
  else
    -- Failures expire a cool-off after the last one, and start from 0 once
    -- the lock they caused has ended.
    if lf + cooloff <= now or lf < lu then
      f = 0
    end
    f = math.min(f + 1, maxf)
    lf = now
    if f >= limit then
      s = math.min(s + 1, 64)
      lu = now + lockout_duration(s, cooloff, factor, cap)
      started, moved = 1, true
    end
  end
  local ends = math.max(lf + cooloff, lu)
  if s > 0 and lu + memory > ends then
    ends = lu + memory
  end
  redis.call('HSET', key, 'f', bastion_int(f), 'lf', bastion_int(lf), 'lu', bastion_int(lu), 'n', bastion_int(s))
  bastion_expire_at(key, now, ends)
  if moved then
    lockout_index_add(KEYS[n + 1], member, lu, now, locked_cap)
  end
  for _, pos in ipairs({tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3])}) do
    if pos > 0 then
      lockout_index_add(KEYS[pos], member, ends, now, index_cap)
    end
  end
  local locked = 0
  if lu > now then
    locked = 1
  end
  out[#out + 1] = locked
  out[#out + 1] = lu
  out[#out + 1] = f
  out[#out + 1] = started
end
return out
