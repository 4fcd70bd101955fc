-- ARGV[2] lease id, ARGV[3] ttl (ms)
local s = redis.call('ZSCORE', KEYS[5], ARGV[2])
if not s or tonumber(s) <= now then return redis.error_reply('FLEET_LEASE_LOST') end
local lexp = now + tonumber(ARGV[3])
redis.call('ZADD', KEYS[5], lexp, ARGV[2])
return lexp
