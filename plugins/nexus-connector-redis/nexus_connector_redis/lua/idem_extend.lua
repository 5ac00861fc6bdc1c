-- Extend the owner's in-flight claim (a lease kept alive while the owner works).
-- KEYS: 1 claim hash;  ARGV: 1 owner, 2 ttl (ms)
-- Returns: 1 when the owner still held the claim and no outcome is stored, else 0 (nothing
-- changes: the claim expired, was released or completed, or is somebody else's).

local v = redis.call('HMGET', KEYS[1], 'ow', 'oc')
if v[1] == ARGV[1] and not v[2] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
