-- Prepended to every script of the queue: the Redis clock, history trimming, and taking the next
-- waiting job.

-- The Redis clock in ms, shared by every process.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Trims a history set to its `keep` newest ids, deleting the hashes of the ids it drops (oldest
-- first; ties by id, as ZRANGE orders them).
local function trim(set, keep, job_prefix)
  local excess = redis.call('ZCARD', set) - keep
  if excess > 0 then
    local dropped = redis.call('ZPOPMIN', set, excess)
    for i = 1, #dropped, 2 do
      redis.call('DEL', job_prefix .. dropped[i])
    end
  end
end

-- Trims a history list (newest first) of `length` ids to its `keep` newest, deleting the hashes
-- of the ids it drops. O(1) per id, where a sorted set's ZADD scans its listpack.
local function trim_list(list, length, keep, job_prefix)
  for _ = keep + 1, length do
    redis.call('DEL', job_prefix .. redis.call('RPOP', list))
  end
end

-- Locks a job that is in active for `token` and starts its next attempt → {id, payload, attempt},
-- or nil (without touching anything) when its record is gone.
local function lock(id, active, stalled, job_prefix, lock_prefix, token, ttl_ms, now)
  local job = job_prefix .. id
  local payload = redis.call('HGET', job, 'payload')
  if not payload then return nil end
  redis.call('SET', lock_prefix .. id, token, 'PX', ttl_ms)
  redis.call('ZREM', stalled, id)
  local attempt = redis.call('HINCRBY', job, 'attempts', 1)
  redis.call('HSET', job, 'state', 'active', 'updated_ms', now)
  return {id, payload, attempt}
end

-- Moves the next waiting job to active and locks it in the same step, so no worker can die
-- between the two → {id, payload, attempt} or nil when nothing waits. A waiting id whose record
-- is gone is dropped.
local function take_next(wait, active, stalled, job_prefix, lock_prefix, token, ttl_ms, now)
  while true do
    local id = redis.call('LMOVE', wait, active, 'RIGHT', 'LEFT')
    if not id then return nil end
    local taken = lock(id, active, stalled, job_prefix, lock_prefix, token, ttl_ms, now)
    if taken then return taken end
    redis.call('LREM', active, -1, id)
  end
end

-- Appends the next job, taken for `next_token` ('' = the worker wants none), to a finishing
-- script's reply: BullMQ's finish-and-fetch-next, which saves the slot a round trip per job.
local function with_next(reply, wait, active, stalled, job_prefix, lock_prefix, next_token, ttl_ms, now)
  if next_token ~= '' then
    local taken = take_next(wait, active, stalled, job_prefix, lock_prefix, next_token, ttl_ms, now)
    if taken then
      for _, v in ipairs(taken) do reply[#reply + 1] = v end
    end
  end
  return reply
end
