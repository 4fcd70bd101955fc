-- ARGV[2] node, ARGV[3] token
local l = redis.call('HMGET', KEYS[2], 'owner', 'token')
if l[1] == ARGV[2] and l[2] == ARGV[3] then redis.call('DEL', KEYS[2]) end
return 1
