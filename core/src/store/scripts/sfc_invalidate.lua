-- Deletes a shared cache entry KEYS[1] (the next caller computes it).
redis.call('DEL', KEYS[1])
return 1
