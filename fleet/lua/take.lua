-- ARGV[2] lease id, ARGV[3] holder, ARGV[4] lease ttl (ms),
-- ARGV[5] minimum remaining lifetime (ms), ARGV[6] cap
if destroyed() then return redis.error_reply('FLEET_DESTROYED') end
local cap = tonumber(ARGV[6])
if cap > 0 and holders() >= cap then return redis.error_reply('FLEET_CAPACITY') end
if redis.call('ZSCORE', KEYS[5], ARGV[2]) then return redis.error_reply('FLEET_DUPLICATE_LEASE') end
local got = redis.call('ZREVRANGEBYSCORE', KEYS[3], '+inf', now + tonumber(ARGV[5]), 'WITHSCORES', 'LIMIT', 0, 1)
if #got == 0 then return redis.error_reply('FLEET_EMPTY') end
local id = got[1]
redis.call('ZREM', KEYS[3], id)
local lexp = now + tonumber(ARGV[4])
redis.call('ZADD', KEYS[5], lexp, ARGV[2])
redis.call('HSET', KEYS[6], ARGV[2], id)
redis.call('HSET', KEYS[7], ARGV[2], ARGV[3])
return {id, got[2], lexp}
