-- ARGV[2] lease id, ARGV[3] expiry (ms), ARGV[4] renewal due (ms)
local s = redis.call('ZSCORE', KEYS[5], ARGV[2])
if not s or tonumber(s) <= now then return redis.error_reply('FLEET_LEASE_LOST') end
local id = redis.call('HGET', KEYS[6], ARGV[2])
remove_lease(ARGV[2])
if destroyed() or redis.call('ZCARD', KEYS[3]) + pending_refills() >= target() then
  doom(id)
  return 0
end
redis.call('HSET', KEYS[4], id, ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[3], id)
redis.call('ZADD', KEYS[13], ARGV[4], id)
redis.call('HDEL', KEYS[14], id)
return 1
