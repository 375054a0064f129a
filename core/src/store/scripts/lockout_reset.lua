-- Deletes state keys (a success, an unlock) and their index entries.
-- KEYS[1..n] the state keys, KEYS[n+1] the index of locked keys, then the
-- per-value indexes. ARGV[2] n, ARGV[3] cool-off (us); then, per state key,
-- its member and the KEYS positions of its username and IP indexes (0: none).
-- Returns {now, then per key: 1 when it held failures or a lock in force,
-- 1 when it was locked}.
local now = bastion_now()
local n, cooloff = tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {now}
for i = 1, n do
  local base = 3 + 3 * (i - 1)
  local member = ARGV[base + 1]
  local f, lf, lu = lockout_state(KEYS[i])
  redis.call('DEL', KEYS[i])
  lockout_index_remove(KEYS[n + 1], member, now)
  for _, pos in ipairs({tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3])}) do
    if pos > 0 then
      lockout_index_remove(KEYS[pos], member, now)
    end
  end
  local live, locked = 0, 0
  if lu > now then
    live, locked = 1, 1
  elseif f > 0 and lf + cooloff > now and lf >= lu then
    live = 1
  end
  out[#out + 1] = live
  out[#out + 1] = locked
end
return out
