-- ARGV[2] slot, ARGV[3] owner, ARGV[4] node, ARGV[5] token
local v = redis.call('HGET', KEYS[9], ARGV[2])
if not v then return 0 end
local owner = string.match(v, '^%S+ (%S+)')
if (ARGV[3] == '' or owner ~= ARGV[3]) and not leading(ARGV[4], ARGV[5]) then
  return redis.error_reply('FLEET_FENCED')
end
remove_intent(ARGV[2])
return 1
