-- The owner index of the API key registry (shared by the apikey_* scripts that
-- read it): a hash, key id -> "<indexed at>:<kept until>" (us; kept until 0:
-- the entry has no end).

-- The live entries of the index at `key`, as {id, indexed at (text), kept
-- until}; entries past their end are deleted on the way.
local function apikey_owner_live(key, now)
  local entries = redis.call('HGETALL', key)
  local live = {}
  for i = 1, #entries, 2 do
    local v = entries[i + 1]
    local sep = string.find(v, ':', 1, true)
    local kept = tonumber(string.sub(v, sep + 1))
    if kept ~= 0 and kept <= now then
      redis.call('HDEL', key, entries[i])
    else
      live[#live + 1] = {entries[i], string.sub(v, 1, sep - 1), kept}
    end
  end
  return live
end

-- Gives the index at `key` the lifetime of its longest entry (`extra`, the
-- end of an entry about to be added, counts too), or none while an entry has
-- no end.
local function apikey_owner_expire(key, now, live, extra)
  local forever, last = extra == 0, extra or 0
  for _, e in ipairs(live) do
    if e[3] == 0 then
      forever = true
    elseif e[3] > last then
      last = e[3]
    end
  end
  if forever then
    redis.call('PERSIST', key)
  elseif last > 0 then
    bastion_expire_at(key, now, last)
  end
end

