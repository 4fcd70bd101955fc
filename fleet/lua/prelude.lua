-- Shared by every script (prepended). All keys of one pool carry the
-- pool's hash tag, so they live in one Redis Cluster slot:
--   KEYS[1]  meta        hash: target, destroyed, seq (intent slots),
--                        fence (fencing tokens), claimseq
--   KEYS[2]  lock        hash: owner, token, exp
--   KEYS[3]  idle        zset: sandbox id -> expiry (ms)
--   KEYS[4]  exp         hash: sandbox id -> expiry (ms), idle and leased
--   KEYS[5]  leases      zset: lease id -> lease expiry (ms)
--   KEYS[6]  leasebox    hash: lease id -> sandbox id
--   KEYS[7]  leaseholder hash: lease id -> holder node
--   KEYS[8]  doomed      set:  sandbox ids to delete
--   KEYS[9]  intents     hash: slot -> "kind owner token term"
--   KEYS[10] ideadline   zset: slot -> deadline (ms)
--   KEYS[11] directs     zset: slot of a direct intent -> deadline (ms)
--   KEYS[12] tokens      hash: client token -> slot
--   KEYS[13] renewals    zset: sandbox id -> due (ms)
--   KEYS[14] claims      hash: sandbox id -> renewal claim
-- ARGV[1] is an offset in ms added to the server's clock; always 0
-- except in the store tests, which move time forward with it.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1])

local function leading(node, token)
  if node == '' then return false end
  local l = redis.call('HMGET', KEYS[2], 'owner', 'token', 'exp')
  return l[1] == node and l[2] == token and tonumber(l[3] or '0') > now
end

local function destroyed()
  return redis.call('HGET', KEYS[1], 'destroyed') == '1'
end

local function doom(id)
  redis.call('ZREM', KEYS[3], id)
  redis.call('HDEL', KEYS[4], id)
  redis.call('ZREM', KEYS[13], id)
  redis.call('HDEL', KEYS[14], id)
  redis.call('SADD', KEYS[8], id)
end

local function remove_intent(slot)
  local v = redis.call('HGET', KEYS[9], slot)
  if not v then return false end
  local token = string.match(v, '^%S+ %S+ (%S+)')
  redis.call('HDEL', KEYS[12], token)
  redis.call('HDEL', KEYS[9], slot)
  redis.call('ZREM', KEYS[10], slot)
  redis.call('ZREM', KEYS[11], slot)
  return true
end

local function remove_lease(lid)
  redis.call('ZREM', KEYS[5], lid)
  redis.call('HDEL', KEYS[6], lid)
  redis.call('HDEL', KEYS[7], lid)
end

-- Live leases plus live direct intents: the holders the cap counts.
local function holders()
  local floor = '(' .. now
  return redis.call('ZCOUNT', KEYS[5], floor, '+inf') + redis.call('ZCOUNT', KEYS[11], floor, '+inf')
end

local function target()
  return tonumber(redis.call('HGET', KEYS[1], 'target') or '0')
end

local function pending_refills()
  return redis.call('HLEN', KEYS[9]) - redis.call('ZCARD', KEYS[11])
end

-- target, destroyed, idle, leased, pending, direct, doomed,
-- leader, token, lock expiry, now
local function stats()
  local d = destroyed() and 1 or 0
  local l = redis.call('HMGET', KEYS[2], 'owner', 'token', 'exp')
  local owner, token, lexp = '', 0, 0
  if l[1] and tonumber(l[3]) > now then
    owner, token, lexp = l[1], tonumber(l[2]), tonumber(l[3])
  end
  return {target(), d, redis.call('ZCARD', KEYS[3]), redis.call('ZCARD', KEYS[5]),
    pending_refills(), redis.call('ZCARD', KEYS[11]), redis.call('SCARD', KEYS[8]),
    owner, token, lexp, now}
end
