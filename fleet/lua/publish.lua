-- ARGV[2] node, ARGV[3] token, ARGV[4] slot, ARGV[5] sandbox id,
-- ARGV[6] expiry (ms), ARGV[7] renewal due (ms)
if not leading(ARGV[2], ARGV[3]) then return redis.error_reply('FLEET_FENCED') end
if destroyed() then return redis.error_reply('FLEET_DESTROYED') end
if not remove_intent(ARGV[4]) then return redis.error_reply('FLEET_INTENT_GONE') end
redis.call('HSET', KEYS[4], ARGV[5], ARGV[6])
redis.call('ZADD', KEYS[3], ARGV[6], ARGV[5])
redis.call('ZADD', KEYS[13], ARGV[7], ARGV[5])
redis.call('HDEL', KEYS[14], ARGV[5])
return 1
