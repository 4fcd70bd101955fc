-- ARGV[2] size
if destroyed() then return redis.error_reply('FLEET_DESTROYED') end
redis.call('HSET', KEYS[1], 'target', ARGV[2])
return 1
