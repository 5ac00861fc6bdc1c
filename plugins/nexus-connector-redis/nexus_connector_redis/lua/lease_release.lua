-- Give a lease up if the owner holds it (its data stays).
-- KEYS: 1 the holder;  ARGV: 1 owner

if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
