-- Lists the keys of an owner's index, dropping entries past their end.
-- KEYS[1] the owner's index.
-- Returns {now (us), id, indexed at (us), id, indexed at, ...}.
local now = bastion_now()
local out = {now}
for _, e in ipairs(apikey_owner_live(KEYS[1], now)) do
  out[#out + 1] = e[1]
  out[#out + 1] = e[2]
end
return out
