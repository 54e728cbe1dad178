-- A job that may not run yet (`JobError::Later`) waits in delayed, its attempt given back. Then
-- takes the next job for the same slot when asked.
-- KEYS: running, delayed, job, wait. ARGV: id, token, delay_ms, job_prefix, ttl_ms,
-- next_token ('' = none).
-- → {1 deferred | 0 lock not held, [next id, payload, attempt]}
local now = now_ms()
local status = 0
if lock_holder(KEYS[3], now) == ARGV[2] then
  redis.call('LREM', KEYS[1], -1, ARGV[1])
  redis.call('HINCRBY', KEYS[3], 'attempts', -1)
  redis.call('HSET', KEYS[3], 'state', 'delayed', 'lock', '', 'updated_ms', now)
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[1])
  status = 1
end
return with_next({status}, KEYS[4], KEYS[1], ARGV[4], ARGV[6], ARGV[5], now)
