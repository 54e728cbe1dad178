-- Records a failed attempt (only the lock holder may): delayed for a retry after
-- backoff_base * 2^(attempts - 1) while attempts remain, else failed. Then takes the next job for
-- the same slot when asked.
-- KEYS: running, delayed, failed, job, wait. ARGV: id, token, error, backoff_base_ms,
-- keep_failed, job_prefix, ttl_ms, next_token ('' = none).
-- → {retry delay in ms (≥ 0) | -1 lock not held | -2 failed for good, [next id, payload, attempt]}
local now = now_ms()
local function finish()
  if lock_holder(KEYS[4], now) ~= ARGV[2] then return -1 end
  redis.call('LREM', KEYS[1], -1, ARGV[1])
  local counts = redis.call('HMGET', KEYS[4], 'attempts', 'max_attempts')
  local attempts = tonumber(counts[1]) or 1
  local max_attempts = tonumber(counts[2]) or 1
  if attempts < max_attempts then
    local delay = math.floor(tonumber(ARGV[4]) * 2 ^ math.min(math.max(attempts - 1, 0), 30))
    redis.call('ZADD', KEYS[2], now + delay, ARGV[1])
    redis.call('HSET', KEYS[4], 'state', 'delayed', 'lock', '', 'last_error', ARGV[3], 'updated_ms', now)
    return delay
  end
  redis.call('HSET', KEYS[4], 'state', 'failed', 'lock', '', 'last_error', ARGV[3], 'updated_ms', now,
    'finished_ms', now)
  redis.call('ZADD', KEYS[3], now, ARGV[1])
  trim(KEYS[3], tonumber(ARGV[5]), ARGV[6])
  return -2
end
return with_next({finish()}, KEYS[5], KEYS[1], ARGV[6], ARGV[8], ARGV[7], now)
