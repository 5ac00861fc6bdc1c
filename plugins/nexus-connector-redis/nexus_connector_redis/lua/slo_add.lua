-- Add counts to the buckets of one series, once per batch id (a batch sent again after a lost
-- answer adds nothing).
-- KEYS: 1 the batch's marker, 2.. the buckets
-- ARGV: 1 how long the marker is kept (ms); then per bucket: keep (ms), the number of fields n,
-- and n pairs of field, count
-- Returns: 1 when the counts were added, 0 when this batch was added before

if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then return 0 end
local a = 2
for i = 2, #KEYS do
  local keep, n = ARGV[a], tonumber(ARGV[a + 1])
  a = a + 2
  for _ = 1, n do
    redis.call('HINCRBY', KEYS[i], ARGV[a], ARGV[a + 1])
    a = a + 2
  end
  redis.call('PEXPIRE', KEYS[i], keep)
end
return 1
