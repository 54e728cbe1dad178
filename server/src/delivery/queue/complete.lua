-- Records a completed attempt (only the lock holder may), then takes the next job for the same
-- slot when asked.
-- KEYS: running, succeeded, job, wait. ARGV: id, token, keep_completed, trim_slack, job_prefix,
-- ttl_ms, next_token ('' = none).
-- → {1 done | 0 lock not held, [next id, payload, attempt]}
local now = now_ms()
local status = 0
if lock_holder(KEYS[3], now) == ARGV[2] then
  -- From the tail: the oldest running jobs, the likeliest to finish, are there.
  redis.call('LREM', KEYS[1], -1, ARGV[1])
  redis.call('HSET', KEYS[3], 'state', 'completed', 'lock', '', 'updated_ms', now, 'finished_ms', now)
  trim_list(KEYS[2], redis.call('LPUSH', KEYS[2], ARGV[1]), tonumber(ARGV[3]), tonumber(ARGV[4]),
    ARGV[5])
  status = 1
end
return with_next({status}, KEYS[4], KEYS[1], ARGV[5], ARGV[7], ARGV[6], now)
