-- Store the outcome of the owner's call; a claim that expired meanwhile is taken back
-- unless somebody else holds the key now.
-- KEYS: 1 claim hash;  ARGV: 1 owner, 2 fingerprint, 3 outcome, 4 ttl (ms)

local owner = redis.call('HGET', KEYS[1], 'ow')
if not owner then
  redis.call('HSET', KEYS[1], 'fp', ARGV[2], 'ow', ARGV[1], 'oc', ARGV[3])
elseif owner == ARGV[1] then
  redis.call('HSET', KEYS[1], 'oc', ARGV[3])
else
  return 0
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
