-- Shared by the record and breaker scripts: the server's clock and the circuit breaker's
-- rules. The generated script defines before this code: H (the plan's scope hash), P (the
-- prefix of this breaker's fields in it), TTL (seconds an idle hash lives) and p (the
-- breaker's policy). These rules mirror nexus_connector_core/_resilience/breaker.py; the
-- core's StateBackendConformance suite holds both to the same behaviour.

local CLOSED, OPEN, HALF = 0, 1, 2
local STATE_NAMES = {[0] = 'closed', [1] = 'open', [2] = 'half_open'}

local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end

local function num(x)
  return string.format('%.17g', x)
end

-- What admit reads on every call is packed in one field, <P>h = "state generation calls
-- failures slow"; the rest has a field each.
local NAMES = {'h', 'ou', 'hs', 'op', 'ti', 'td', 'tf', 'ts', 'rg', 'ri', 'old'}
local FIELDS = {}
for i, name in ipairs(NAMES) do FIELDS[i] = P .. name end

local function breaker_load(now)
  local v = redis.call('HMGET', H, unpack(FIELDS))
  if not v[1] then
    return nil
  end
  local st, gen, n, f, s = string.match(v[1], '(%d+) (%d+) (%d+) (%d+) (%d+)')
  -- Fields the admit script has not written yet read as their initial values.
  return {
    st = tonumber(st), gen = tonumber(gen), n = tonumber(n), f = tonumber(f), s = tonumber(s),
    ou = tonumber(v[2] or 0), hs = tonumber(v[3] or 0), op = tonumber(v[4] or 0),
    ti = tonumber(v[5] or 0), td = tonumber(v[6] or 0), tf = tonumber(v[7] or 0),
    ts = tonumber(v[8] or 0), rg = v[9] or '', ri = tonumber(v[10] or 0),
    old = tonumber(v[11] or -1),
  }
end

local function hot(b)
  return b.st .. ' ' .. string.format('%d', b.gen) .. ' ' .. b.n .. ' ' .. b.f .. ' ' .. b.s
end

local function quiet(b)
  return b.st == CLOSED and p.window_type ~= 'time' and b.n == p.window and b.f == 0 and b.s == 0
end

local function breaker_save(b)
  if quiet(b) then -- what admit reads first: see admit.lua
    redis.call('HSET', H, P .. 'q', string.format('%d', b.gen))
  else
    redis.call('HDEL', H, P .. 'q')
  end
  redis.call('HSET', H, P .. 'h', hot(b), P .. 'ou', num(b.ou), P .. 'hs', num(b.hs),
    P .. 'op', b.op, P .. 'ti', b.ti, P .. 'td', b.td, P .. 'tf', b.tf, P .. 'ts', b.ts,
    P .. 'rg', b.rg, P .. 'ri', b.ri, P .. 'old', b.old)
  redis.call('EXPIRE', H, TTL)
end

-- The time window: one-second buckets in fields <P>c<sec> (calls), <P>x<sec> (failures),
-- <P>y<sec> (slow calls), all within window seconds of `old`, the oldest.
local function time_evict(b, now)
  if b.old < 0 then return end
  local horizon = math.floor(now) - p.window
  local last = math.min(horizon, b.old + p.window)
  for sec = b.old, last do
    local c = redis.call('HGET', H, P .. 'c' .. sec)
    if c then
      b.n = b.n - tonumber(c)
      b.f = b.f - tonumber(redis.call('HGET', H, P .. 'x' .. sec) or 0)
      b.s = b.s - tonumber(redis.call('HGET', H, P .. 'y' .. sec) or 0)
      redis.call('HDEL', H, P .. 'c' .. sec, P .. 'x' .. sec, P .. 'y' .. sec)
    end
  end
  if last >= b.old then
    b.old = (b.n > 0) and (last + 1) or -1
  end
end

local function window_add(b, outcome, now)
  local failed, slow = outcome % 2, math.floor(outcome / 2)
  if p.window_type == 'time' then
    time_evict(b, now)
    local sec = math.floor(now)
    redis.call('HINCRBY', H, P .. 'c' .. sec, 1)
    if failed > 0 then redis.call('HINCRBY', H, P .. 'x' .. sec, 1) end
    if slow > 0 then redis.call('HINCRBY', H, P .. 'y' .. sec, 1) end
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

local function window_reset(b)
  if p.window_type == 'time' and b.old >= 0 then
    for sec = b.old, b.old + p.window do
      redis.call('HDEL', H, P .. 'c' .. sec, P .. 'x' .. sec, P .. 'y' .. sec)
    end
  end
  b.rg = string.rep('0', p.window) ; b.ri = 0 ; b.n = 0 ; b.f = 0 ; b.s = 0 ; b.old = -1
end

local function tripped(calls, failures, slow)
  return calls > 0 and (failures / calls >= p.failure_rate
    or (p.slow_duration > 0 and slow / calls >= p.slow_rate))
end

local function transition(b, state)
  b.st = state
  b.gen = b.gen + 1
end

local function breaker_open(b, now)
  local cap = math.max(p.open_max, p.open_for)
  local duration = p.open_for * (p.open_mult ^ b.op) -- inf past the float range: capped
  if duration < cap then b.op = b.op + 1 end
  b.ou = now + math.min(duration, cap)
  transition(b, OPEN)
end

local function breaker_close(b)
  window_reset(b)
  b.op = 0
  transition(b, CLOSED)
end
