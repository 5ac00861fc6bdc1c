-- Shared by the record and breaker scripts, and by the admit script that carries outcomes:
-- the server's clock and the circuit breaker's rules. The generated script defines before
-- this code: H (the plan's scope hash), P (the prefix of this breaker's fields in it), TTL
-- (seconds an idle hash lives) and p (the breaker's policy). These rules mirror
-- nexus_connector_core/_resilience/breaker.py; the core's StateBackendConformance suite
-- holds both to the same behaviour.

local CLOSED, OPEN, HALF = 0, 1, 2
local STATE_NAMES = {[0] = 'closed', [1] = 'open', [2] = 'half_open'}

local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end

local function num(x)
  return string.format('%.17g', x)
end

-- A breaker's fields. Hot, read by every script that records: <P>h = "state generation
-- calls failures slow" (what admit reads on every call), <P>q (the generation, while the
-- breaker is quiet: see quiet), the count window's ring <P>rg and its index <P>ri, the time
-- window's oldest second <P>old. Cold, read only when the breaker moves or is not closed:
-- open until (ou), half-open since (hs), times opened in a row (op), trials admitted (ti)
-- and done (td), of which failed (tf) and slow (ts).
local COLD = {'ou', 'hs', 'op', 'ti', 'td', 'tf', 'ts'}

-- The breaker from its hot fields (HMGET replies: false for a field never written), or nil
-- when it has none (a new or expired breaker).
local function breaker_of(h, q, rg, ri, old)
  if not h then return nil end
  local st, gen, n, f, s = string.match(h, '(%d+) (%d+) (%d+) (%d+) (%d+)')
  return {
    st = tonumber(st), gen = tonumber(gen), n = tonumber(n), f = tonumber(f), s = tonumber(s),
    q = q, rg = rg or '', ri = tonumber(ri or 0), old = tonumber(old or -1), cold = false,
  }
end

local function breaker_load(now)
  local v = redis.call('HMGET', H, P .. 'h', P .. 'q', P .. 'rg', P .. 'ri', P .. 'old')
  return breaker_of(v[1], v[2], v[3], v[4], v[5])
end

-- Reads the cold fields, once (a field not written yet reads as its initial value).
local function cold(b)
  if b.cold then return end
  local names = {}
  for i, name in ipairs(COLD) do names[i] = P .. name end
  local v = redis.call('HMGET', H, unpack(names))
  b.ou, b.hs, b.op = tonumber(v[1] or 0), tonumber(v[2] or 0), tonumber(v[3] or 0)
  b.ti, b.td, b.tf, b.ts = tonumber(v[4] or 0), tonumber(v[5] or 0), tonumber(v[6] or 0),
    tonumber(v[7] or 0)
  b.cold = true
end

local function hot(b)
  return b.st .. ' ' .. string.format('%d', b.gen) .. ' ' .. b.n .. ' ' .. b.f .. ' ' .. b.s
end

local function quiet(b)
  return b.st == CLOSED and p.window_type ~= 'time' and b.n == p.window and b.f == 0 and b.s == 0
end

-- Writes the hot fields, and the cold ones when read; `expire`: push the hash's expiry back
-- (the admit script does it itself).
local function breaker_save(b, expire)
  if quiet(b) then -- what admit reads first: see admit.lua
    local gen = string.format('%d', b.gen)
    if b.q ~= gen then redis.call('HSET', H, P .. 'q', gen) ; b.q = gen end
  elseif b.q then
    redis.call('HDEL', H, P .. 'q')
    b.q = false
  end
  if b.cold then
    redis.call('HSET', H, P .. 'h', hot(b), P .. 'rg', b.rg, P .. 'ri', b.ri, P .. 'old', b.old,
      P .. 'ou', num(b.ou), P .. 'hs', num(b.hs), P .. 'op', b.op, P .. 'ti', b.ti,
      P .. 'td', b.td, P .. 'tf', b.tf, P .. 'ts', b.ts)
  else
    redis.call('HSET', H, P .. 'h', hot(b), P .. 'rg', b.rg, P .. 'ri', b.ri, P .. 'old', b.old)
  end
  if expire then redis.call('EXPIRE', H, TTL) end
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
  cold(b)
  local cap = math.max(p.open_max, p.open_for)
  local duration = p.open_for * (p.open_mult ^ b.op) -- inf past the float range: capped
  if duration < cap then b.op = b.op + 1 end
  b.ou = now + math.min(duration, cap)
  transition(b, OPEN)
end

local function breaker_close(b)
  cold(b)
  window_reset(b)
  b.op = 0
  transition(b, CLOSED)
end

-- Outcomes, as the client sends them (ARGV triples): the generation at admission; a code:
-- failed + 2 * slow, plus 4 for a half-open trial, or -1 for an abandoned trial (it gives
-- its permit back; an abandoned call that held no permit is never sent); and its age, the
-- milliseconds it waited in the worker before this script. A breaker it opens is open from
-- when it was recorded, as if it had been sent then. Applies one to `b`; true when `b`
-- changed.
local function apply(b, gen, code, age, now)
  if b.gen ~= gen then return false end -- admitted before the breaker last moved: ignored
  if code < 0 then
    if b.st ~= HALF then return false end
    cold(b)
    b.ti = math.max(b.ti - 1, b.td)
    return true
  end
  local outcome = code % 4
  local at = now - math.max(age, 0) / 1000
  if b.st == CLOSED then
    window_add(b, outcome, now)
    -- A fast success cannot raise a rate in a count window unless it brings the window to
    -- min_calls; a time window may have shed old calls.
    if outcome ~= 0 or p.window_type == 'time' or b.n == p.min_calls then
      if p.window_type == 'time' then time_evict(b, now) end
      if b.n >= p.min_calls and tripped(b.n, b.f, b.s) then breaker_open(b, at) end
    end
    return true
  end
  if b.st ~= HALF or code < 4 then return false end
  cold(b)
  b.td = b.td + 1
  b.tf = b.tf + outcome % 2
  b.ts = b.ts + math.floor(outcome / 2)
  if b.td >= p.half_open_calls then
    if tripped(b.td, b.tf, b.ts) then breaker_open(b, at) else breaker_close(b) end
  end
  return true
end

-- Applies the outcomes in ARGV from `first` on, in order; true when `b` changed.
local function apply_all(b, first, now)
  local changed = false
  for i = first, #ARGV - 2, 3 do
    if apply(b, tonumber(ARGV[i]), tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]), now) then
      changed = true
    end
  end
  return changed
end

-- The carrying admission's full way (see admit.lua): outcomes from ARGV[3] on recorded in
-- the breaker whose hot fields admit read; its new h and q, or nil when nothing changed.
local function carry(h, q, rg, ri, old, now)
  local b = breaker_of(h, q, rg, ri, old)
  if not b or not apply_all(b, 3, now) then return nil end
  breaker_save(b, false)
  return hot(b), b.q
end
