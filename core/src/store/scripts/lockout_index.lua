-- Reads per-value indexes (for an unlock), dropping members whose end has
-- passed. KEYS: the indexes. Returns, per index, its members in force.
local now = bastion_now()
local out = {}
for i = 1, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', bastion_int(now))
  out[i] = redis.call('ZRANGE', KEYS[i], 0, -1)
end
return out
