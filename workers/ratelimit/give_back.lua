-- Return amounts to buckets (a negative amount charges more); never above capacity.
-- KEYS[1]: the bucket hash.
-- ARGV: per dimension four values: name, rate (units per ms), capacity (units), amount (units).

local fields, latest = {}, now
for i = 1, #ARGV, 4 do
  local rate, amount = tonumber(ARGV[i + 1]), tonumber(ARGV[i + 3])
  local full_at = math.max(now, full_at_of(KEYS[1], ARGV[i]) - amount / rate)
  fields[#fields + 1] = ARGV[i]
  fields[#fields + 1] = fmt(full_at)
  latest = math.max(latest, full_at)
end
store(KEYS[1], fields, latest)
return 1
