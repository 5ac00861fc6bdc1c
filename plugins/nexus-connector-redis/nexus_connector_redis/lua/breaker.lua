-- A breaker as it stands, for status and health: after the outcomes it is given (the
-- caller's own, not sent yet) and expired buckets, it changes nothing.
-- KEYS: 1 the scope hash
-- ARGV: outcomes, three values each (generation, code, age): see apply in common.lua
-- Returns: {state, calls, failures, slow, retry_after, generation}

local now = clock()
local b = breaker_load(now)
if not b then return {'closed', 0, 0, 0, '0', 0} end
local changed = apply_all(b, 1, now)
if b.st ~= CLOSED then cold(b) end
local calls, failures, slow = b.n, b.f, b.s
if b.st == HALF then
  calls, failures, slow = b.td, b.tf, b.ts
elseif p.window_type == 'time' then
  time_evict(b, now)
  changed = true
  calls, failures, slow = b.n, b.f, b.s
end
if changed then breaker_save(b, true) end
local retry_after = 0
if b.st == OPEN then retry_after = math.max(b.ou - now, 0) end
return {STATE_NAMES[b.st], calls, failures, slow, num(retry_after), b.gen}
