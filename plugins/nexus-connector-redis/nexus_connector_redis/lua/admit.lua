-- Admit one attempt: circuit breaker, then rate limiter, then retry budget, committing
-- nothing unless all allow it; one round trip, one HMGET and one HSET on the plan's scope
-- hash. The generated script defines H, P, G, L, TTL before this code and writes the
-- policy's numbers (the dollar names) in; blocks for policies the plan lacks are left out.
-- The carrying variant (the OUTCOMES block, with record_fully before it: common.lua and the
-- breaker's policy in one function) first records outcomes of earlier attempts in the
-- breaker, as record.lua does: the admission then decides on them, still in one round trip.
-- KEYS: 1 the scope hash, 2 the limiter's own key (a caller's key: kept out of the hash)
-- ARGV: 1 retry (0/1), 2 max_wait (seconds the limiter may reserve ahead), then (carrying)
--       outcomes, three values each (generation, code, age): see apply in common.lua
-- Returns "allowed|reason|retry_after|wait|generation|trial|state|settled"

local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local sec = math.floor(now)
local retry = ARGV[1] == '1'
local gen, state, trial, settled, ttl = 0, 0, 0, 0, TTL
local closed = false -- the outcomes carried left the breaker closed, generation gen
--[[BUDGET
local bucket = G .. (retry and 'r' or 'c') .. sec
BUDGET]]
-- One read of what the plan's policies need (the generated script lists the fields and
-- where each lands in v): the breaker's packed state (<P>h) and, while it is closed with a
-- window of fast successes only, its generation (<P>q), then nothing else of it is read
-- (carrying outcomes, also its window: <P>rg, <P>ri, <P>old); the limiter's TAT; the
-- budget's totals and this second's count; and 'x', the second the hash's expiry was last
-- pushed back.
local v = redis.call('HMGET', H, $fields)
local writes = {}
local function put(field, value)
  writes[#writes + 1] = field
  writes[#writes + 1] = value
end
local function refuse(reason, after)
  if #writes > 0 then -- a breaker's move with time (open -> half-open) stands when refused
    redis.call('HSET', H, unpack(writes))
    redis.call('EXPIRE', H, ttl)
  end
  return '0|' .. reason .. '|' .. after .. '|0|' .. string.format('%d', gen) .. '|0|' .. state .. '|0'
end
--[[OUTCOMES
-- Earlier attempts' outcomes first, in the fields just read and written with this
-- admission's: the common case, a closed breaker with a count window that they do not
-- open, here (the rule of window_add and apply in common.lua, inlined); anything else (a
-- time window, a half-open trial, an outcome that opens the breaker) the full way,
-- record_fully (common.lua's rules, made only then).
do
  local h, fast = v[$i_h], $count_window
  local st, g, n, f, s, rg, ri
  if h then
    st, g, n, f, s = string.match(h, '(%d+) (%d+) (%d+) (%d+) (%d+)')
    fast = fast and st == '0'
  end
  if h and fast then
    n, f, s = tonumber(n), tonumber(f), tonumber(s)
    rg, ri = v[$i_rg] or '', tonumber(v[$i_ri] or 0)
    local current, changed = tonumber(g), false
    for i = 3, #ARGV - 2, 3 do
      local code = tonumber(ARGV[i + 1])
      if code >= 0 and tonumber(ARGV[i]) == current then
        local outcome = code % 4
        if #rg ~= $window then -- the window's size changed in the config: start afresh
          rg, ri, n, f, s = string.rep('0', $window), 0, 0, 0, 0
        end
        if n == $window then -- full: the oldest outcome leaves
          local gone = tonumber(string.sub(rg, ri + 1, ri + 1))
          n, f, s = n - 1, f - gone % 2, s - math.floor(gone / 2)
        end
        rg = string.sub(rg, 1, ri) .. outcome .. string.sub(rg, ri + 2)
        ri = (ri + 1) % $window
        n, f, s = n + 1, f + outcome % 2, s + math.floor(outcome / 2)
        changed = true
        if (outcome ~= 0 or n == $min_calls) and n >= $min_calls
            and (f / n >= $failure_rate or ($slow_duration > 0 and s / n >= $slow_rate)) then
          fast = false -- it opens the breaker
          break
        end
      end
    end
    if fast and changed then
      h = '0 ' .. g .. ' ' .. n .. ' ' .. f .. ' ' .. s
      put(P .. 'h', h) ; put(P .. 'rg', rg) ; put(P .. 'ri', ri)
      if n == $window and f == 0 and s == 0 then -- quiet
        if v[$i_q] ~= g then put(P .. 'q', g) end
        v[$i_q] = g
      elseif v[$i_q] then
        redis.call('HDEL', H, P .. 'q')
        v[$i_q] = false
      end
      v[$i_h], gen, closed = h, g, true
    end
  end
  if h and not fast then
    local q
    h, q = record_fully(v[$i_h], v[$i_q], v[$i_rg], v[$i_ri], v[$i_old], now)
    if h then v[$i_h], v[$i_q] = h, q end
  end
end
OUTCOMES]]


--[[BREAKER
local ti, n, f, s = 0, 0, 0, 0
if v[$i_q] then
  gen, settled = v[$i_q], 1 -- closed and quiet: a fast success of this call changes nothing
elseif closed then -- read already: nothing to parse
elseif not v[$i_h] then
  -- A new breaker starts its generations where no earlier (expired) one can have been.
  gen = math.floor(now * 1000)
  put(P .. 'h', '0 ' .. string.format('%d', gen) .. ' 0 0 0')
else
  local a, b, c, d, e = string.match(v[$i_h], '(%d+) (%d+) (%d+) (%d+) (%d+)')
  state, gen, n, f, s = tonumber(a), tonumber(b), tonumber(c), tonumber(d), tonumber(e)
end
if state ~= 0 then
  local function pack()
    return state .. ' ' .. string.format('%d', gen) .. ' ' .. n .. ' ' .. f .. ' ' .. s
  end
  local w = redis.call('HMGET', H, P .. 'ou', P .. 'hs', P .. 'op', P .. 'ti')
  local ou, hs, op = tonumber(w[1] or 0), tonumber(w[2] or 0), tonumber(w[3] or 0)
  ti = tonumber(w[4] or 0)
  if state == 1 then
    if now < ou then return refuse('circuit_open', ou - now) end
    state, gen, hs, ti = 2, gen + 1, now, 0 -- open_for has passed: half-open
    put(P .. 'h', pack()) ; put(P .. 'hs', string.format('%.17g', hs))
    put(P .. 'ti', 0) ; put(P .. 'td', 0) ; put(P .. 'tf', 0) ; put(P .. 'ts', 0)
  end
  if $half_open_max_wait > 0 and now - hs > $half_open_max_wait then
    local duration = $open_for * ($open_mult ^ op) -- inf past the float range: capped
    if duration < $open_cap then op = op + 1 end
    ou = now + math.min(duration, $open_cap)
    state, gen = 1, gen + 1
    put(P .. 'h', pack()) ; put(P .. 'ou', string.format('%.17g', ou)) ; put(P .. 'op', op)
    return refuse('circuit_open', ou - now)
  end
  if ti >= $half_open_calls then
    local after = 1.0
    if $half_open_max_wait > 0 then after = math.max(hs + $half_open_max_wait - now, 0) end
    return refuse('circuit_open', after)
  end
  trial = 1
end
BREAKER]]

local wait, tat = 0, 0
--[[LIMIT
--[[LIMIT_IN_HASH
tat = tonumber(v[$i_tat] or 0)
LIMIT_IN_HASH]]
--[[LIMIT_OWN_KEY
tat = tonumber(redis.call('GET', KEYS[2]) or 0)
LIMIT_OWN_KEY]]
if tat < now then tat = now end
wait = tat - $tolerance - now
if wait <= 1e-9 then
  wait = 0
elseif wait > tonumber(ARGV[2]) then
  return refuse('rate_limited', wait)
end
tat = tat + $interval
LIMIT]]

--[[BUDGET
local calls, retries, old = 0, 0, -1
if v[$i_gh] then
  local a, b, c = string.match(v[$i_gh], '(%d+) (%d+) (-?%d+)')
  calls, retries, old = tonumber(a), tonumber(b), tonumber(c)
end
if old >= 0 and old <= sec - $budget_window then -- slide: drop the seconds that left
  local last = math.min(sec - $budget_window, old + $budget_window)
  for x = old, last do
    local c, r = redis.call('HGET', H, G .. 'c' .. x), redis.call('HGET', H, G .. 'r' .. x)
    if c or r then
      calls, retries = calls - tonumber(c or 0), retries - tonumber(r or 0)
      redis.call('HDEL', H, G .. 'c' .. x, G .. 'r' .. x)
    end
  end
  old = (calls + retries > 0) and (last + 1) or -1
end
if retry and retries + 1 > $budget_ratio * calls + $budget_floor then
  put(G .. 'h', calls .. ' ' .. retries .. ' ' .. old)
  return refuse('retry_budget', 1)
end
if retry then retries = retries + 1 else calls = calls + 1 end
if old < 0 then old = sec end
put(G .. 'h', calls .. ' ' .. retries .. ' ' .. old)
put(bucket, tonumber(v[$i_bucket] or 0) + 1)
BUDGET]]

-- Everything allowed it: commit.
--[[LIMIT
--[[LIMIT_IN_HASH
put(L, string.format('%.17g', tat))
ttl = math.max(ttl, math.ceil(tat - now) + 1)
LIMIT_IN_HASH]]
--[[LIMIT_OWN_KEY
redis.call('SET', KEYS[2], string.format('%.17g', tat), 'PX', math.ceil((tat - now) * 1000) + 1000)
LIMIT_OWN_KEY]]
LIMIT]]
--[[BREAKER
if trial == 1 then put(P .. 'ti', ti + 1) end
BREAKER]]
if tonumber(v[$i_x] or -1) ~= sec then -- push the expiry back once a second, not every call
  put('x', sec)
  redis.call('EXPIRE', H, ttl)
end
if #writes > 0 then redis.call('HSET', H, unpack(writes)) end
if type(gen) ~= 'string' then gen = string.format('%d', gen) end
if wait == 0 and trial == 0 and state == 0 then -- the common answer, with fewer conversions
  return '1||0|0|' .. gen .. (settled == 1 and '|0|0|1' or '|0|0|0')
end
return '1||0|' .. wait .. '|' .. gen .. '|' .. trial .. '|' .. state .. '|' .. settled
