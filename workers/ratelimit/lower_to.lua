-- Lower buckets to at most a ceiling each (what the provider says remains); never raise one.
-- KEYS[1]: the bucket hash.
-- ARGV: per dimension four values: name, rate (units per ms), capacity (units), ceiling (units).

lower_all(KEYS[1], ARGV, 1, #ARGV)
return 1
