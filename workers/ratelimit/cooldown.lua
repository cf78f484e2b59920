-- Start or extend a cooldown; never shorten a longer one.
-- KEYS[1]: the cooldown key. ARGV[1]: its length (ms, integer).
-- Returns the cooldown left (ms).

local ms = tonumber(ARGV[1])
if ms > 0 and redis.call('PTTL', KEYS[1]) < ms then
  redis.call('SET', KEYS[1], '1', 'PX', ms)
end
return redis.call('PTTL', KEYS[1])
