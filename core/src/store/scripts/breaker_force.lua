-- Moves the breaker to state ARGV[14] now (manual open / close / half-open).
enter(tonumber(ARGV[14]))
return finish(0, 0, 0)
