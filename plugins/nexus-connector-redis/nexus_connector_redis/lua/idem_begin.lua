-- Claim an idempotency key, or report who holds it.
-- KEYS: 1 claim hash;  ARGV: 1 fingerprint, 2 owner id for a new claim, 3 claim ttl (ms)
-- Returns: {'acquired', owner} | {'done', outcome} | {'in_flight', pttl} | {'conflict'}

local v = redis.call('HMGET', KEYS[1], 'fp', 'ow', 'oc')
if not v[1] then
  redis.call('HSET', KEYS[1], 'fp', ARGV[1], 'ow', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {'acquired', ARGV[2]}
end
if v[1] ~= ARGV[1] then return {'conflict'} end
if v[3] then return {'done', v[3]} end
return {'in_flight', redis.call('PTTL', KEYS[1])}
