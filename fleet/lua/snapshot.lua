return {stats(),
  redis.call('ZRANGE', KEYS[3], 0, -1, 'WITHSCORES'),
  redis.call('ZRANGE', KEYS[5], 0, -1, 'WITHSCORES'),
  redis.call('HGETALL', KEYS[6]),
  redis.call('HGETALL', KEYS[7]),
  redis.call('HGETALL', KEYS[9]),
  redis.call('ZRANGE', KEYS[10], 0, -1, 'WITHSCORES'),
  redis.call('SMEMBERS', KEYS[8]),
  redis.call('ZRANGE', KEYS[13], 0, -1, 'WITHSCORES')}
