-- Record the outcome of an admitted attempt in its breaker. One round trip.
-- KEYS: 1 the scope hash
-- ARGV: 1 generation at admission, 2 trial (0/1), 3 failed (1, 0, or -1: abandoned, no
--       outcome), 4 duration
-- Returns: the breaker's state after recording

local now = clock()
local b = breaker_load(now)
if not b then return 'closed' end
if b.gen ~= tonumber(ARGV[1]) then return STATE_NAMES[b.st] end
local trial, failed, duration = ARGV[2] == '1', tonumber(ARGV[3]), tonumber(ARGV[4])

if failed < 0 then -- abandoned: count nothing, give a half-open permit back
  if b.st == HALF and trial then
    b.ti = math.max(b.ti - 1, b.td)
    breaker_save(b)
  end
  return STATE_NAMES[b.st]
end

local slow = (p.slow_duration > 0 and duration >= p.slow_duration) and 1 or 0
if b.st == CLOSED then
  local outcome = failed + 2 * slow
  window_add(b, outcome, now)
  -- A fast success cannot raise a rate in a count window unless it brings the window to
  -- min_calls; a time window may have shed old calls.
  if outcome ~= 0 or p.window_type == 'time' or b.n == p.min_calls then
    if p.window_type == 'time' then time_evict(b, now) end
    if b.n >= p.min_calls and tripped(b.n, b.f, b.s) then breaker_open(b, now) end
  end
  breaker_save(b)
elseif b.st == HALF and trial then
  b.td = b.td + 1
  b.tf = b.tf + failed
  b.ts = b.ts + slow
  if b.td >= p.half_open_calls then
    if tripped(b.td, b.tf, b.ts) then breaker_open(b, now) else breaker_close(b) end
  end
  breaker_save(b)
end
return STATE_NAMES[b.st]
