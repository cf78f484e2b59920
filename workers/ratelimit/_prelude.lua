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
