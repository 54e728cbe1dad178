-- A failed job back to wait with its attempts reset (BullMQ's `job.retry()`).
-- KEYS: failed, wait, job. ARGV: id. → 1 retried, 0 not a failed job.
if redis.call('HGET', KEYS[3], 'state') ~= 'failed' then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[3], 'finished_ms')
redis.call('HSET', KEYS[3], 'state', 'wait', 'attempts', 0, 'updated_ms', now_ms())
redis.call('LPUSH', KEYS[2], ARGV[1])
return 1
