-- ARGV[2] slot, ARGV[3] lease id, ARGV[4] holder, ARGV[5] lease ttl (ms),
-- ARGV[6] sandbox id, ARGV[7] expiry (ms), ARGV[8] renewal due (ms)
local v = redis.call('HGET', KEYS[9], ARGV[2])
if not v then return redis.error_reply('FLEET_INTENT_GONE') end
local kind, owner = string.match(v, '^(%S+) (%S+)')
if kind ~= 'direct' or owner ~= ARGV[3] then return redis.error_reply('FLEET_INTENT_GONE') end
if destroyed() then return redis.error_reply('FLEET_DESTROYED') end
if redis.call('ZSCORE', KEYS[5], ARGV[3]) then return redis.error_reply('FLEET_DUPLICATE_LEASE') end
remove_intent(ARGV[2])
local lexp = now + tonumber(ARGV[5])
redis.call('ZADD', KEYS[5], lexp, ARGV[3])
redis.call('HSET', KEYS[6], ARGV[3], ARGV[6])
redis.call('HSET', KEYS[7], ARGV[3], ARGV[4])
redis.call('HSET', KEYS[4], ARGV[6], ARGV[7])
redis.call('ZADD', KEYS[13], ARGV[8], ARGV[6])
return lexp
