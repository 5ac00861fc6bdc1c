-- A rate limiter's theoretical arrival time, and the server's clock (it takes no token).
-- KEYS: 1 the scope hash, or a caller's own limiter key;  ARGV: 1 the hash field ('' for an
-- own key)
-- Returns: {tat or nil, now}

local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local tat
if ARGV[1] == '' then tat = redis.call('GET', KEYS[1]) else tat = redis.call('HGET', KEYS[1], ARGV[1]) end
return {tat, string.format('%.17g', now)}
