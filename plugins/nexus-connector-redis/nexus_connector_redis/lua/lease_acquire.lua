-- Take a lease if it is free, or renew it if the owner holds it.
-- KEYS: 1 the holder, 2 the holders' data;  ARGV: 1 owner, 2 ttl (ms)
-- Returns: {holder, data or nil, ms left}

local holder = redis.call('GET', KEYS[1])
if not holder or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  holder = ARGV[1]
end
return {holder, redis.call('GET', KEYS[2]), redis.call('PTTL', KEYS[1])}
