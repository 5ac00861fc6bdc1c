-- Every field's sum over the buckets of one series (missing or expired buckets add nothing).
-- KEYS: the buckets
-- Returns: {field, sum, field, sum, ...}

local sums, order = {}, {}
for i = 1, #KEYS do
  local v = redis.call('HGETALL', KEYS[i])
  for j = 1, #v, 2 do
    local field = v[j]
    if sums[field] == nil then
      sums[field] = 0
      order[#order + 1] = field
    end
    sums[field] = sums[field] + tonumber(v[j + 1])
  end
end
local out = {}
for _, field in ipairs(order) do
  out[#out + 1] = field
  out[#out + 1] = string.format('%d', sums[field])
end
return out
