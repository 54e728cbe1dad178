-- KEYS: job. ARGV: token, ttl_ms. → 1 extended, 0 not ours any more (taken over, or expired).
local now = now_ms()
if lock_holder(KEYS[1], now) == ARGV[1] then
  redis.call('HSET', KEYS[1], 'lock_until', now + tonumber(ARGV[2]))
  return 1
end
return 0
