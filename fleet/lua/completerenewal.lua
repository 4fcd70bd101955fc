-- ARGV[2] sandbox id, ARGV[3] claim, ARGV[4] expiry (ms),
-- ARGV[5] next due (ms), ARGV[6] "1" when the sandbox is gone
if redis.call('HGET', KEYS[14], ARGV[2]) ~= ARGV[3] then return 0 end
redis.call('HDEL', KEYS[14], ARGV[2])
if redis.call('HEXISTS', KEYS[4], ARGV[2]) == 0 then
  redis.call('ZREM', KEYS[13], ARGV[2])
  return 1
end
local idle = redis.call('ZSCORE', KEYS[3], ARGV[2])
if ARGV[6] == '1' then
  redis.call('ZREM', KEYS[13], ARGV[2])
  if idle then doom(ARGV[2]) end
  return 1
end
redis.call('HSET', KEYS[4], ARGV[2], ARGV[4])
if idle then redis.call('ZADD', KEYS[3], ARGV[4], ARGV[2]) end
redis.call('ZADD', KEYS[13], ARGV[5], ARGV[2])
return 1
