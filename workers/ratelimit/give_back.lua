-- Return amounts to buckets (a negative amount charges more); never above capacity.
-- KEYS[1]: the bucket hash.
-- ARGV: per dimension four values: name, rate (units per ms), capacity (units), amount (units).

give_back_all(KEYS[1], ARGV, 1, #ARGV)
return 1
