-- Promotes due delayed jobs, then recovers stalled running ones. A running job without a live
-- lock is stalled at once when its state is `active` (its lock expired); with another state it
-- may just be between its worker's BLMOVE and its take, so it is recovered only after being seen
-- unlocked for `grace_ms` (a worker that died in that gap). A job that stalled in its last
-- attempt has had all its attempts: it fails (the policy's bound holds across crashes, where
-- BullMQ has `maxStalledCount`).
-- Rolling upgrades from older versions: they kept completed ids in a sorted set `completed`,
-- whose ids are moved to the `succeeded` list (behind the newer ones there, oldest last); and
-- they ran jobs from the list `active` with a lock key `lock:<id>` that expires, so jobs there
-- count as locked while that key lives. (Running jobs have their own list, `running`: an older
-- version's maintain, seeing no lock key, would put every one of them back.)
-- KEYS: wait, running, delayed, stalled, failed, completed, succeeded, active. ARGV: job_prefix,
-- lock_prefix (older versions' lock keys), grace_ms, batch, keep_failed, keep_completed.
-- → {promoted, recovered, failed, ms until the next delayed job or -1}
local now = now_ms()
if redis.call('EXISTS', KEYS[6]) == 1 then
  for _, id in ipairs(redis.call('ZREVRANGE', KEYS[6], 0, -1)) do
    redis.call('RPUSH', KEYS[7], id)
  end
  redis.call('DEL', KEYS[6])
end
-- Completions trim the succeeded list in batches; between them, this pass trims it exactly.
trim_list(KEYS[7], redis.call('LLEN', KEYS[7]), tonumber(ARGV[6]), 0, ARGV[1])
local promoted = 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, tonumber(ARGV[4]))) do
  redis.call('ZREM', KEYS[3], id)
  local job = ARGV[1] .. id
  if redis.call('EXISTS', job) == 1 then
    redis.call('HSET', job, 'state', 'wait', 'updated_ms', now)
    redis.call('LPUSH', KEYS[1], id)
    promoted = promoted + 1
  end
end

local seen = {}
local marks = redis.call('ZRANGE', KEYS[4], 0, -1, 'WITHSCORES')
for i = 1, #marks, 2 do seen[marks[i]] = tonumber(marks[i + 1]) end
redis.call('DEL', KEYS[4])
local recovered = 0
local failed = 0
local function recover(list, legacy)
  for _, id in ipairs(redis.call('LRANGE', list, 0, -1)) do
    local job = ARGV[1] .. id
    if not lock_holder(job, now) and not (legacy and redis.call('EXISTS', ARGV[2] .. id) == 1) then
      local state = redis.call('HGET', job, 'state')
      if not state then
        redis.call('LREM', list, 0, id)
      else
        local since = seen[id] or now
        local counts = redis.call('HMGET', job, 'attempts', 'max_attempts')
        local attempts = tonumber(counts[1]) or 0
        local max_attempts = tonumber(counts[2]) or 1
        if state == 'active' and attempts >= max_attempts then
          redis.call('LREM', list, 0, id)
          redis.call('HSET', job, 'state', 'failed', 'lock', '', 'updated_ms', now, 'finished_ms', now,
            'last_error', 'stalled: its worker stopped during the last attempt')
          redis.call('ZADD', KEYS[5], now, id)
          trim(KEYS[5], tonumber(ARGV[5]), ARGV[1])
          failed = failed + 1
        elseif state == 'active' or now - since >= tonumber(ARGV[3]) then
          redis.call('LREM', list, 0, id)
          redis.call('HSET', job, 'state', 'wait', 'lock', '', 'updated_ms', now)
          redis.call('RPUSH', KEYS[1], id)
          recovered = recovered + 1
        else
          redis.call('ZADD', KEYS[4], since, id)
        end
      end
    end
  end
end
recover(KEYS[2], false)
recover(KEYS[8], true)

local next_due = -1
local first = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
if #first > 0 then next_due = math.max(0, tonumber(first[2]) - now) end
return {promoted, recovered, failed, next_due}
