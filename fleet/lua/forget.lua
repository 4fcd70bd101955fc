-- ARGV[2...] sandbox ids
for i = 2, #ARGV do redis.call('SREM', KEYS[8], ARGV[i]) end
return 1
