-- After a call, in one round trip: correct the reservation by the actual usage, then
-- lower the buckets to what the provider says remains.
-- KEYS[1]: the bucket hash.
-- ARGV[1]: n, how many of the following values are corrections (give_back.lua's ARGV);
-- ARGV[2 .. n + 1]: the corrections; ARGV[n + 2 ..]: the ceilings (lower_to.lua's ARGV).

local n = tonumber(ARGV[1])
give_back_all(KEYS[1], ARGV, 2, n + 1)
lower_all(KEYS[1], ARGV, n + 2, #ARGV)
return 1
