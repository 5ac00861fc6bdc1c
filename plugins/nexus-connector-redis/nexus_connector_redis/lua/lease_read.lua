-- A lease as it stands.
-- KEYS: 1 the holder, 2 the holders' data
-- Returns: {holder or nil, data or nil, ms left (negative when free)}

return {redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2]), redis.call('PTTL', KEYS[1])}
