-- Counts outcomes taken in generation ARGV[14]: ARGV[15] successes (ARGV[16]
-- of them slow), ARGV[17] failures (ARGV[18] of them slow), in that order;
-- ARGV[19] the probe token ('' for none), whose slot is freed. Outcomes of
-- another generation are stale: not counted (granted = 1 in the reply).
if ARGV[19] ~= '' then
  if redis.call('ZREM', PR, ARGV[19]) > 0 then
    touch()
  end
end
if tonumber(ARGV[14]) ~= num('g') then
  return finish(1, 0, 0)
end
local ns, nss, nf, nfs = tonumber(ARGV[15]), tonumber(ARGV[16]), tonumber(ARGV[17]), tonumber(ARGV[18])
if ns > 0 then
  set('c', 0)
end
if nf > 0 then
  set('c', math.min(num('c') + nf, 1000000000))
end
local s = num('s')
if s == 0 then
  window_add(0, ns - nss)
  window_add(2, nss)
  window_add(1, nf - nfs)
  window_add(3, nfs)
  if trips() then
    enter(1)
  end
elseif s == 2 then
  if nf > 0 then
    enter(1)
  elseif ns > 0 then
    set('ps', num('ps') + ns)
    if num('ps') >= P.threshold then
      enter(0)
    end
  end
end
return finish(0, 0, 0)
