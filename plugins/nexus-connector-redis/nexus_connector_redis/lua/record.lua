-- Record outcomes of admitted attempts in their breaker, in order. One round trip.
-- KEYS: 1 the scope hash
-- ARGV: outcomes, three values each (generation, code, age): see apply in common.lua
-- Returns: the breaker's state after recording

local now = clock()
local b = breaker_load(now)
if not b then return 'closed' end
if apply_all(b, 1, now) then breaker_save(b, true) end
return STATE_NAMES[b.st]
