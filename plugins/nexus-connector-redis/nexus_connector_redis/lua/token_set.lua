-- Store a refreshed token and release the refresh lock if `owner` holds it.
-- KEYS: 1 token hash, 2 lock;  ARGV: 1 owner, 2 value, 3 expires_at, 4 keep (ms)

redis.call('HSET', KEYS[1], 'v', ARGV[2], 'e', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 1
