-- ARGV[2] node, ARGV[3] token, ARGV[4] most doomed ids to return
if not leading(ARGV[2], ARGV[3]) then return redis.error_reply('FLEET_FENCED') end
local reclaimed, trimmed = 0, 0
for _, lid in ipairs(redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', now)) do
  local id = redis.call('HGET', KEYS[6], lid)
  remove_lease(lid)
  if id then doom(id) end
  reclaimed = reclaimed + 1
end
local stale
if destroyed() then
  stale = redis.call('ZRANGE', KEYS[3], 0, -1)
else
  stale = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)
end
for _, id in ipairs(stale) do doom(id); trimmed = trimmed + 1 end
local excess = redis.call('ZCARD', KEYS[3]) - target()
if excess > 0 then
  for _, id in ipairs(redis.call('ZRANGE', KEYS[3], 0, excess - 1)) do doom(id); trimmed = trimmed + 1 end
end
local doomed = redis.call('SRANDMEMBER', KEYS[8], ARGV[4])
return {stats(), reclaimed, trimmed, doomed,
  redis.call('HGETALL', KEYS[9]), redis.call('ZRANGE', KEYS[10], 0, -1, 'WITHSCORES')}
