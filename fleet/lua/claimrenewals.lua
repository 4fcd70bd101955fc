-- ARGV[2] worker, ARGV[3] most claims, ARGV[4] claim ttl (ms)
local out, n, max = {}, 0, tonumber(ARGV[3])
while n < max do
  local due = redis.call('ZRANGEBYSCORE', KEYS[13], '-inf', now, 'LIMIT', 0, max - n)
  if #due == 0 then break end
  for _, id in ipairs(due) do
    if redis.call('HEXISTS', KEYS[4], id) == 0 then
      redis.call('ZREM', KEYS[13], id)
    else
      local c = ARGV[2] .. '#' .. redis.call('HINCRBY', KEYS[1], 'claimseq', 1)
      redis.call('ZADD', KEYS[13], now + tonumber(ARGV[4]), id)
      redis.call('HSET', KEYS[14], id, c)
      out[#out + 1] = id
      out[#out + 1] = c
      n = n + 1
    end
  end
end
return out
