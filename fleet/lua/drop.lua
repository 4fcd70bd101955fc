-- ARGV[2] lease id
local id = redis.call('HGET', KEYS[6], ARGV[2])
if not id then return redis.error_reply('FLEET_LEASE_LOST') end
remove_lease(ARGV[2])
doom(id)
return id
