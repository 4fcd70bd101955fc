-- ARGV[2] size
if not destroyed() then
  redis.call('HSETNX', KEYS[1], 'target', ARGV[2])
end
return 1
