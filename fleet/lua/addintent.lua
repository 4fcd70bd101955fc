-- ARGV[2] kind, ARGV[3] owner, ARGV[4] client token, ARGV[5] node,
-- ARGV[6] term token, ARGV[7] cap, ARGV[8] ttl (ms)
if destroyed() then return redis.error_reply('FLEET_DESTROYED') end
local term = '0'
if ARGV[2] == 'refill' then
  if not leading(ARGV[5], ARGV[6]) then return redis.error_reply('FLEET_FENCED') end
  term = ARGV[6]
elseif tonumber(ARGV[7]) > 0 and holders() >= tonumber(ARGV[7]) then
  return redis.error_reply('FLEET_CAPACITY')
end
if redis.call('HEXISTS', KEYS[12], ARGV[4]) == 1 then return redis.error_reply('FLEET_DUPLICATE_TOKEN') end
local slot = redis.call('HINCRBY', KEYS[1], 'seq', 1)
local deadline = now + tonumber(ARGV[8])
redis.call('HSET', KEYS[9], slot, ARGV[2] .. ' ' .. ARGV[3] .. ' ' .. ARGV[4] .. ' ' .. term)
redis.call('ZADD', KEYS[10], deadline, slot)
redis.call('HSET', KEYS[12], ARGV[4], slot)
if ARGV[2] == 'direct' then redis.call('ZADD', KEYS[11], deadline, slot) end
return {slot, deadline}
