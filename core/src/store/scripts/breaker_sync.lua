-- Reads a shared breaker's state (changes nothing).
return finish(0, 0, 0)
