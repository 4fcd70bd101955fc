redis.call('HSET', KEYS[1], 'destroyed', '1', 'target', '0')
for _, id in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do doom(id) end
return 1
