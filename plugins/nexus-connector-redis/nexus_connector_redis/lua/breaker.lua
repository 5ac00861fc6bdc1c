-- A breaker as it stands, for status and health (changes nothing but expired buckets).
-- KEYS: 1 the scope hash
-- Returns: {state, calls, failures, slow, retry_after, generation}

local now = clock()
local b = breaker_load(now)
if not b then return {'closed', 0, 0, 0, '0', 0} end
local calls, failures, slow = b.n, b.f, b.s
if b.st == HALF then
  calls, failures, slow = b.td, b.tf, b.ts
elseif p.window_type == 'time' then
  time_evict(b, now)
  breaker_save(b)
  calls, failures, slow = b.n, b.f, b.s
end
local retry_after = 0
if b.st == OPEN then retry_after = math.max(b.ou - now, 0) end
return {STATE_NAMES[b.st], calls, failures, slow, num(retry_after), b.gen}
