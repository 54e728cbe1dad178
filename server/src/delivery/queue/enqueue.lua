-- Adds a job unless one with its id is known.
-- KEYS: wait, job. ARGV: id, payload, max_attempts. → 1 added, 0 duplicate.
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local now = now_ms()
redis.call('HSET', KEYS[2], 'payload', ARGV[2], 'state', 'wait', 'attempts', 0,
  'max_attempts', ARGV[3], 'created_ms', now, 'updated_ms', now)
redis.call('LPUSH', KEYS[1], ARGV[1])
return 1
