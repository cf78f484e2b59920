-- Reserve on several buckets at once, all or nothing.
-- KEYS[1]: the bucket hash; KEYS[2]: the cooldown key (its PTTL is the cooldown left).
-- ARGV: per dimension four values: name, rate (units per ms), capacity (units), amount (units).
-- Returns {granted 0|1, wait (ms), reason (dimension or 'cooldown'), now (ms)}.

local cooldown = redis.call('PTTL', KEYS[2])
if cooldown > 0 then
  return {0, tostring(cooldown), 'cooldown', fmt(now)}
end

local TOLERANCE_MS = 0.001 -- waits shorter than this are float noise
local worst, reason = 0, ''
local fields, latest = {}, now
for i = 1, #ARGV, 4 do
  local dimension = ARGV[i]
  local rate, capacity, amount = tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])
  local full_at = full_at_of(KEYS[1], dimension)
  -- an amount above the capacity waits for a full bucket, then leaves it in debt
  local wait = (full_at - now) - (capacity - math.min(amount, capacity)) / rate
  if wait > worst then
    worst, reason = wait, dimension
  end
  local taken = full_at + amount / rate
  fields[#fields + 1] = dimension
  fields[#fields + 1] = fmt(taken)
  latest = math.max(latest, taken)
end

if worst > TOLERANCE_MS then
  return {0, fmt(worst), reason, fmt(now)}
end
store(KEYS[1], fields, latest)
return {1, '0', '', fmt(now)}
