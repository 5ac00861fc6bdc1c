-- Record the outcome of an admitted attempt in its breaker. One round trip.
-- KEYS: 1 breaker hash
-- ARGV: 1..12 breaker policy (see policy_at), 13 generation at admission, 14 trial (0/1),
--       15 failed (1, 0, or -1: abandoned, no outcome), 16 duration
-- Returns: the breaker's state after recording

local now = clock()
local p = policy_at(1)
local key = KEYS[1]
if redis.call('EXISTS', key) == 0 then return 'closed' end
local b = breaker_load(key, p, now)
if b.gen ~= tonumber(ARGV[13]) then return STATE_NAMES[b.st] end
local trial, failed, duration = ARGV[14] == '1', tonumber(ARGV[15]), tonumber(ARGV[16])

if failed < 0 then -- abandoned: count nothing, give a half-open permit back
  if b.st == HALF and trial then
    b.ti = math.max(b.ti - 1, b.td)
    breaker_save(key, b, p)
  end
  return STATE_NAMES[b.st]
end

local slow = (p.slow_duration > 0 and duration >= p.slow_duration) and 1 or 0
if b.st == CLOSED then
  local outcome = failed * FAILED + slow * SLOW
  window_add(key, b, p, outcome, now)
  if outcome ~= 0 or p.window_type == 'time' or b.n == p.min_calls then
    if p.window_type == 'time' then time_evict(key, b, p, now) end
    if b.n >= p.min_calls and tripped(p, b.n, b.f, b.s) then
      breaker_open(b, p, now)
    end
  end
  breaker_save(key, b, p)
elseif b.st == HALF and trial then
  b.td = b.td + 1
  b.tf = b.tf + failed
  b.ts = b.ts + slow
  if b.td >= p.half_open_calls then
    if tripped(p, b.td, b.tf, b.ts) then
      breaker_open(b, p, now)
    else
      breaker_close(key, b, p)
    end
  end
  breaker_save(key, b, p)
end
return STATE_NAMES[b.st]
