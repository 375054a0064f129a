-- Shared by the lease scripts.

-- 1 when the two owner ids are equal, else 0: their SHA-1 digests are
-- compared, so the time taken says nothing about the stored id.
local function lease_same_owner(a, b)
  if a and b and redis.sha1hex(a) == redis.sha1hex(b) then
    return 1
  end
  return 0
end

-- Whether the live lease at `key` is the grant `fence` of `owner`
-- (fence '' or '0': any grant of that owner). Returns the hash fields too.
local function lease_owned(key, owner, fence, now)
  local h = redis.call('HMGET', key, 'o', 'f', 'e')
  local exp = tonumber(h[3])
  if not (h[1] and exp and exp > now) then
    return false, h
  end
  if fence ~= '' and fence ~= '0' and h[2] ~= fence then
    return false, h
  end
  return lease_same_owner(h[1], owner) == 1, h
end

-- Publishes `payload` on `channel` (the full name) when one is given.
local function lease_publish(channel, payload)
  if channel ~= '' then
    redis.call('PUBLISH', channel, payload)
  end
end
