-- Deletes a shared cache entry KEYS[1] (the next caller computes it) and
-- tells every process, so that they drop their local copies: ARGV[1] the
-- channel ('' none), ARGV[2] the payload (the entry's lease key).
redis.call('DEL', KEYS[1])
lease_publish(ARGV[1], ARGV[2])
return 1
