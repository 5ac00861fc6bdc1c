-- Admit one attempt: circuit breaker, then rate limiter, then retry budget, committing
-- nothing unless all allow it. One round trip.
-- KEYS: 1 breaker hash, 2 limiter TAT, 3 budget hash (all in the plan's hash-tag slot)
-- ARGV: 1 retry (0/1), 2 max_wait, 3 has_breaker, 4..15 breaker policy (see policy_at),
--       16 has_limit, 17 interval, 18 capacity, 19 has_budget, 20 ratio, 21 budget window,
--       22 min_per_second
-- Returns: {allowed, reason, retry_after, wait, generation, trial, state, settled}

local now = clock()
local retry = ARGV[1] == '1'
local max_wait = tonumber(ARGV[2])
local p, b = nil, nil
local trial = false
local gen, state = 0, CLOSED

if ARGV[3] == '1' then
  p = policy_at(4)
  b = breaker_load(KEYS[1], p, now)
  local allowed, reason, retry_after
  allowed, reason, retry_after, trial = breaker_check(b, p, now)
  gen, state = b.gen, b.st
  if not allowed then
    if b.dirty then breaker_save(KEYS[1], b, p) end
    return {0, reason, num(retry_after), '0', gen, 0, STATE_NAMES[state], 0}
  end
end

local wait, tat = 0, 0
if ARGV[16] == '1' then
  local interval, capacity = tonumber(ARGV[17]), tonumber(ARGV[18])
  tat = tonumber(redis.call('GET', KEYS[2]) or now)
  if tat < now then tat = now end
  wait = tat - (capacity - 1) * interval - now
  if wait <= 1e-9 then
    wait = 0
  elseif wait > max_wait then
    if b and b.dirty then breaker_save(KEYS[1], b, p) end
    return {0, 'rate_limited', num(wait), '0', gen, 0, STATE_NAMES[state], 0}
  end
  tat = tat + interval
end

if ARGV[19] == '1' then
  local ratio, window, floor_rate = tonumber(ARGV[20]), tonumber(ARGV[21]), tonumber(ARGV[22])
  local key = KEYS[3]
  local v = redis.call('HMGET', key, 'tc', 'tr', 'old')
  local calls, retries, old = tonumber(v[1] or 0), tonumber(v[2] or 0), tonumber(v[3] or -1)
  local sec = math.floor(now)
  if old >= 0 then -- slide the window: drop the seconds that left it
    local last = math.min(sec - window, old + window)
    for s = old, last do
      local c, r = redis.call('HGET', key, 'c' .. s), redis.call('HGET', key, 'r' .. s)
      if c or r then
        calls = calls - tonumber(c or 0)
        retries = retries - tonumber(r or 0)
        redis.call('HDEL', key, 'c' .. s, 'r' .. s)
      end
    end
    if last >= old then old = (calls + retries > 0) and (last + 1) or -1 end
  end
  if retry and retries + 1 > ratio * calls + floor_rate * window then
    redis.call('HSET', key, 'tc', calls, 'tr', retries, 'old', old)
    if b and b.dirty then breaker_save(KEYS[1], b, p) end
    return {0, 'retry_budget', '1', '0', gen, 0, STATE_NAMES[state], 0}
  end
  if retry then
    retries = retries + 1
    redis.call('HINCRBY', key, 'r' .. sec, 1)
  else
    calls = calls + 1
    redis.call('HINCRBY', key, 'c' .. sec, 1)
  end
  if old < 0 then old = sec end
  redis.call('HSET', key, 'tc', calls, 'tr', retries, 'old', old)
  redis.call('EXPIRE', key, window + 2)
end

if ARGV[16] == '1' then
  redis.call('SET', KEYS[2], num(tat), 'PX', math.ceil((tat - now) * 1000) + 1000)
end
if trial then
  b.ti = b.ti + 1
  b.dirty = true
end
if b and b.dirty then breaker_save(KEYS[1], b, p) end
local quiet = (b and settled(b, p)) and 1 or 0
return {1, '', '0', num(wait), gen, trial and 1 or 0, STATE_NAMES[state], quiet}
