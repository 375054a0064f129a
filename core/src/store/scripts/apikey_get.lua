-- Reads an API key's record. Read-only. KEYS[1] the record.
-- Returns {now (us), the record's bytes or nil, its revocation time (s) or nil}.
local now = bastion_now()
local f = redis.call('HMGET', KEYS[1], 'rec', 'rev')
return {now, f[1], f[2]}
