-- Shared by every script: the server's clock and the circuit breaker's rules.
-- These mirror nexus_connector_core/_resilience/breaker.py line for line; the core's
-- StateBackendConformance suite holds both to the same behaviour.

local CLOSED, OPEN, HALF = 0, 1, 2
local FAILED, SLOW = 1, 2
local STATE_NAMES = {[0] = 'closed', [1] = 'open', [2] = 'half_open'}

local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end

local function num(x)
  return string.format('%.17g', x)
end

-- Breaker policy from ARGV, starting at position i.
local function policy_at(i)
  return {
    window_type = ARGV[i], window = tonumber(ARGV[i + 1]), min_calls = tonumber(ARGV[i + 2]),
    failure_rate = tonumber(ARGV[i + 3]), slow_rate = tonumber(ARGV[i + 4]),
    slow_duration = tonumber(ARGV[i + 5]), open_for = tonumber(ARGV[i + 6]),
    open_mult = tonumber(ARGV[i + 7]), open_max = tonumber(ARGV[i + 8]),
    half_open_calls = tonumber(ARGV[i + 9]), half_open_max_wait = tonumber(ARGV[i + 10]),
    ttl = tonumber(ARGV[i + 11]),
  }
end

local FIELDS = {'st', 'gen', 'ou', 'hs', 'op', 'ti', 'td', 'tf', 'ts', 'rg', 'ri', 'n', 'f', 's', 'old'}

local function breaker_load(key, p, now)
  local v = redis.call('HMGET', key, unpack(FIELDS))
  if not v[2] then
    -- A new breaker starts its generations at a value no earlier (expired) one reached.
    return {
      st = CLOSED, gen = math.floor(now * 1000), ou = 0, hs = 0, op = 0,
      ti = 0, td = 0, tf = 0, ts = 0,
      rg = string.rep('0', p.window), ri = 0, n = 0, f = 0, s = 0, old = -1,
      dirty = true,
    }
  end
  return {
    st = tonumber(v[1]), gen = tonumber(v[2]), ou = tonumber(v[3]), hs = tonumber(v[4]),
    op = tonumber(v[5]), ti = tonumber(v[6]), td = tonumber(v[7]), tf = tonumber(v[8]),
    ts = tonumber(v[9]), rg = v[10] or '', ri = tonumber(v[11]), n = tonumber(v[12]),
    f = tonumber(v[13]), s = tonumber(v[14]), old = tonumber(v[15]), dirty = false,
  }
end

local function breaker_save(key, b, p)
  redis.call('HSET', key, 'st', b.st, 'gen', b.gen, 'ou', num(b.ou), 'hs', num(b.hs),
    'op', b.op, 'ti', b.ti, 'td', b.td, 'tf', b.tf, 'ts', b.ts, 'rg', b.rg, 'ri', b.ri,
    'n', b.n, 'f', b.f, 's', b.s, 'old', b.old)
  redis.call('EXPIRE', key, p.ttl)
end

-- The time window: one-second buckets in fields c<sec> (calls), x<sec> (failures),
-- y<sec> (slow calls), all within window seconds of `old`, the oldest.
local function time_evict(key, b, p, now)
  if b.old < 0 then return end
  local horizon = math.floor(now) - p.window
  local last = math.min(horizon, b.old + p.window)
  for sec = b.old, last do
    local c = redis.call('HGET', key, 'c' .. sec)
    if c then
      b.n = b.n - tonumber(c)
      b.f = b.f - tonumber(redis.call('HGET', key, 'x' .. sec) or 0)
      b.s = b.s - tonumber(redis.call('HGET', key, 'y' .. sec) or 0)
      redis.call('HDEL', key, 'c' .. sec, 'x' .. sec, 'y' .. sec)
    end
  end
  if last >= b.old then
    b.old = (b.n > 0) and (last + 1) or -1
  end
end

local function window_add(key, b, p, outcome, now)
  local failed, slow = outcome % 2, math.floor(outcome / 2)
  if p.window_type == 'time' then
    time_evict(key, b, p, now)
    local sec = math.floor(now)
    redis.call('HINCRBY', key, 'c' .. sec, 1)
    if failed > 0 then redis.call('HINCRBY', key, 'x' .. sec, 1) end
    if slow > 0 then redis.call('HINCRBY', key, 'y' .. sec, 1) end
    if b.old < 0 then b.old = sec end
  else
    if #b.rg ~= p.window then -- the window's size changed in the config: start afresh
      b.rg = string.rep('0', p.window) ; b.ri = 0 ; b.n = 0 ; b.f = 0 ; b.s = 0
    end
    if b.n == p.window then -- full: the oldest outcome leaves
      local old = tonumber(string.sub(b.rg, b.ri + 1, b.ri + 1))
      b.f = b.f - old % 2
      b.s = b.s - math.floor(old / 2)
      b.n = b.n - 1
    end
    b.rg = string.sub(b.rg, 1, b.ri) .. tostring(outcome) .. string.sub(b.rg, b.ri + 2)
    b.ri = (b.ri + 1) % p.window
  end
  b.n = b.n + 1
  b.f = b.f + failed
  b.s = b.s + slow
end

local function window_reset(key, b, p)
  if p.window_type == 'time' and b.old >= 0 then
    for sec = b.old, b.old + p.window do
      redis.call('HDEL', key, 'c' .. sec, 'x' .. sec, 'y' .. sec)
    end
  end
  b.rg = string.rep('0', p.window) ; b.ri = 0 ; b.n = 0 ; b.f = 0 ; b.s = 0 ; b.old = -1
end

local function tripped(p, calls, failures, slow)
  return calls > 0 and (failures / calls >= p.failure_rate
    or (p.slow_duration > 0 and slow / calls >= p.slow_rate))
end

local function transition(b, state)
  b.st = state
  b.gen = b.gen + 1
  b.dirty = true
end

local function breaker_open(b, p, now)
  local cap = math.max(p.open_max, p.open_for)
  local duration = p.open_for * (p.open_mult ^ b.op)
  if duration < cap then b.op = b.op + 1 end
  b.ou = now + math.min(duration, cap)
  transition(b, OPEN)
end

local function breaker_half_open(b, now)
  b.hs = now
  b.ti, b.td, b.tf, b.ts = 0, 0, 0, 0
  transition(b, HALF)
end

local function breaker_close(key, b, p)
  window_reset(key, b, p)
  b.op = 0
  transition(b, CLOSED)
end

local function expire_half_open(b, p, now)
  if b.st == HALF and p.half_open_max_wait > 0 and now - b.hs > p.half_open_max_wait then
    breaker_open(b, p, now)
  end
end

-- Whether a call may go ahead: allowed, reason, retry_after, trial. Changes state only by
-- the passing of time (open -> half-open, half-open past its max wait -> open).
local function breaker_check(b, p, now)
  if b.st == CLOSED then return true, '', 0, false end
  if b.st == OPEN then
    if now < b.ou then return false, 'circuit_open', b.ou - now, false end
    breaker_half_open(b, now)
  end
  expire_half_open(b, p, now)
  if b.st == OPEN then return false, 'circuit_open', b.ou - now, false end
  if b.ti < p.half_open_calls then return true, '', 0, true end
  local wait = 1.0
  if p.half_open_max_wait > 0 then wait = math.max(b.hs + p.half_open_max_wait - now, 0) end
  return false, 'circuit_open', wait, false
end

local function settled(b, p)
  return b.st == CLOSED and p.window_type ~= 'time' and b.n == p.window and b.f == 0 and b.s == 0
end
