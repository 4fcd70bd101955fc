-- ARGV[2] node, ARGV[3] ttl (ms)
local l = redis.call('HMGET', KEYS[2], 'owner', 'token', 'exp')
local exp = now + tonumber(ARGV[3])
if l[1] and tonumber(l[3]) > now then
  if l[1] ~= ARGV[2] then return {0, l[1], tonumber(l[2]), tonumber(l[3])} end
  redis.call('HSET', KEYS[2], 'exp', exp)
  return {1, l[1], tonumber(l[2]), exp}
end
local token = redis.call('HINCRBY', KEYS[1], 'fence', 1)
redis.call('HSET', KEYS[2], 'owner', ARGV[2], 'token', token, 'exp', exp)
return {1, ARGV[2], token, exp}
