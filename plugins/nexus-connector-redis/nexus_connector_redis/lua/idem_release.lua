-- Drop the owner's claim if it holds no outcome, so the call may be tried again.
-- KEYS: 1 claim hash;  ARGV: 1 owner

local v = redis.call('HMGET', KEYS[1], 'ow', 'oc')
if v[1] == ARGV[1] and not v[2] then
  return redis.call('DEL', KEYS[1])
end
return 0
