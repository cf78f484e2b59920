-- Shared by the bucket scripts (prepended to each by redis_backend.py).
-- Bucket math as in bucket.py, in milliseconds of Redis server time: every host
-- agrees on the clock whatever its own. Each dimension's bucket is one hash field
-- holding full_at, the time (ms) at which it will be full again.
-- Numbers go back to Redis as strings: a returned Lua number is cut to an integer.

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000

local function fmt(x)
  return string.format('%.3f', x)
end

-- full_at of a dimension, a missing or past one meaning full (= now).
local function full_at_of(key, dimension)
  local full_at = tonumber(redis.call('HGET', key, dimension)) or now
  if full_at < now then
    return now
  end
  return full_at
end

-- Write {dimension, full_at, ...} and keep the key until its last bucket is full
-- again (a full bucket is the same as no key); never shorten the key's life.
local function store(key, fields, latest)
  if #fields == 0 then
    return
  end
  redis.call('HSET', key, unpack(fields))
  local ttl = math.ceil(latest - now) + 1000
  if redis.call('PTTL', key) < ttl then
    redis.call('PEXPIRE', key, ttl)
  end
end

-- Return amounts to buckets (a negative amount charges more); never above capacity.
-- args[first..last]: per dimension four values: name, rate (units per ms), capacity (units), amount (units).
local function give_back_all(key, args, first, last)
  local fields, latest = {}, now
  for i = first, last, 4 do
    local rate, amount = tonumber(args[i + 1]), tonumber(args[i + 3])
    local full_at = math.max(now, full_at_of(key, args[i]) - amount / rate)
    fields[#fields + 1] = args[i]
    fields[#fields + 1] = fmt(full_at)
    latest = math.max(latest, full_at)
  end
  store(key, fields, latest)
end

-- Lower buckets to at most a ceiling each (what the provider says remains); never raise one.
-- args[first..last]: per dimension four values: name, rate (units per ms), capacity (units), ceiling (units).
local function lower_all(key, args, first, last)
  local fields, latest = {}, now
  for i = first, last, 4 do
    local rate, capacity, ceiling = tonumber(args[i + 1]), tonumber(args[i + 2]), tonumber(args[i + 3])
    local full_at = math.max(full_at_of(key, args[i]), now + (capacity - ceiling) / rate)
    fields[#fields + 1] = args[i]
    fields[#fields + 1] = fmt(full_at)
    latest = math.max(latest, full_at)
  end
  store(key, fields, latest)
end
