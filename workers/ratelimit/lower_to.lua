-- Lower buckets to at most a ceiling each (what the provider says remains); never raise one.
-- KEYS[1]: the bucket hash.
-- ARGV: per dimension four values: name, rate (units per ms), capacity (units), ceiling (units).

local fields, latest = {}, now
for i = 1, #ARGV, 4 do
  local rate, capacity, ceiling = tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])
  local full_at = math.max(full_at_of(KEYS[1], ARGV[i]), now + (capacity - ceiling) / rate)
  fields[#fields + 1] = ARGV[i]
  fields[#fields + 1] = fmt(full_at)
  latest = math.max(latest, full_at)
end
store(KEYS[1], fields, latest)
return 1
