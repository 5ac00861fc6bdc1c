-- Store data with a lease, only while the owner holds it.
-- KEYS: 1 the holder, 2 the holders' data;  ARGV: 1 owner, 2 data, 3 keep (ms)
-- Returns: 1 when stored, 0 when the owner does not hold the lease (nothing changes)

if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1
