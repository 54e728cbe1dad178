-- Records a completed attempt (only the lock holder may), then takes the next job for the same
-- slot when asked.
-- KEYS: active, succeeded, job, lock, wait, stalled. ARGV: id, token, keep_completed, job_prefix,
-- lock_prefix, ttl_ms, next_token ('' = none).
-- → {1 done | 0 lock not held, [next id, payload, attempt]}
local now = now_ms()
local status = 0
if redis.call('GET', KEYS[4]) == ARGV[2] then
  redis.call('DEL', KEYS[4])
  -- From the tail: the oldest active jobs, the likeliest to finish, are there.
  redis.call('LREM', KEYS[1], -1, ARGV[1])
  redis.call('HSET', KEYS[3], 'state', 'completed', 'updated_ms', now, 'finished_ms', now)
  trim_list(KEYS[2], redis.call('LPUSH', KEYS[2], ARGV[1]), tonumber(ARGV[3]), ARGV[4])
  status = 1
end
return with_next({status}, KEYS[5], KEYS[1], KEYS[6], ARGV[4], ARGV[5], ARGV[7], ARGV[6], now)
