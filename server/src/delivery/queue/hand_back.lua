-- A worker that took a job after shutdown began hands it back untouched, to the front of wait:
-- a job its BLMOVE moved but that it never locked (token ''), or one locked for it whose attempt
-- never started (the attempt is given back).
-- KEYS: running, wait, job. ARGV: id, token. → 1 handed back, 0 not ours to hand back.
local now = now_ms()
local holder = lock_holder(KEYS[3], now)
if ARGV[2] == '' then
  if holder then return 0 end
elseif holder ~= ARGV[2] then
  return 0
end
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return 0 end
if ARGV[2] ~= '' then
  redis.call('HINCRBY', KEYS[3], 'attempts', -1)
  redis.call('HSET', KEYS[3], 'state', 'wait', 'lock', '', 'updated_ms', now)
end
redis.call('RPUSH', KEYS[2], ARGV[1])
return 1
