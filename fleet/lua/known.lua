-- ARGV[2...] pairs of sandbox id and client token ("" for none)
local out = {}
for i = 2, #ARGV, 2 do
  local id, tok = ARGV[i], ARGV[i + 1]
  local k = redis.call('HEXISTS', KEYS[4], id) == 1 or redis.call('SISMEMBER', KEYS[8], id) == 1 or
    (tok ~= '' and redis.call('HEXISTS', KEYS[12], tok) == 1)
  out[#out + 1] = k and 1 or 0
end
return out
