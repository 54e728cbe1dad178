-- Prepended to every script of the queue: the Redis clock, locks, history trimming, and taking
-- the next waiting job.

-- The Redis clock in ms, shared by every process.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- The token holding the job's lock, or nil when it has none or its deadline has passed. The lock
-- lives in the job's hash (`lock`, `lock_until` in ms), where taking a job writes anyway: a lock
-- key with an expiry cost three more commands per job.
local function lock_holder(job, now)
  local lock = redis.call('HMGET', job, 'lock', 'lock_until')
  if lock[1] and lock[1] ~= '' and (tonumber(lock[2]) or 0) > now then return lock[1] end
  return nil
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

-- Trims a history list (newest first) of `length` ids to its `keep` newest, deleting the records
-- of the ids it drops, once it has grown `slack` past `keep`: one LRANGE, LTRIM and a DEL per 256
-- ids for the whole batch, where trimming on every completion cost an RPOP and a DEL per job.
local function trim_list(list, length, keep, slack, job_prefix)
  if length <= keep + slack then return end
  local dropped = redis.call('LRANGE', list, keep, -1)
  if keep > 0 then redis.call('LTRIM', list, 0, keep - 1) else redis.call('DEL', list) end
  local records = {}
  for i, id in ipairs(dropped) do
    records[#records + 1] = job_prefix .. id
    if #records == 256 or i == #dropped then
      redis.call('DEL', unpack(records))
      records = {}
    end
  end
end

-- Locks a job that is in running for `token` until now + ttl_ms and starts its next attempt →
-- {id, payload, attempt}, or nil (without touching anything) when its record is gone. `stalled`
-- (or nil) is the set to clear the job's mark from: only a job a worker's BLMOVE moved can have
-- been marked; one moved by a script is locked in the same step.
local function lock(id, job_prefix, token, ttl_ms, now, stalled)
  local job = job_prefix .. id
  local fields = redis.call('HMGET', job, 'payload', 'attempts')
  if not fields[1] then return nil end
  local attempt = (tonumber(fields[2]) or 0) + 1
  redis.call('HSET', job, 'state', 'active', 'attempts', attempt, 'lock', token,
    'lock_until', now + tonumber(ttl_ms), 'updated_ms', now)
  if stalled then redis.call('ZREM', stalled, id) end
  return {id, fields[1], attempt}
end

-- Moves the next waiting job to running and locks it in the same step, so no worker can die
-- between the two → {id, payload, attempt} or nil when nothing waits. A waiting id whose record
-- is gone is dropped.
local function take_next(wait, running, job_prefix, token, ttl_ms, now)
  while true do
    local id = redis.call('LMOVE', wait, running, 'RIGHT', 'LEFT')
    if not id then return nil end
    local taken = lock(id, job_prefix, token, ttl_ms, now, nil)
    if taken then return taken end
    redis.call('LREM', running, -1, id)
  end
end

-- Appends the next job, taken for `next_token` ('' = the worker wants none), to a finishing
-- script's reply: BullMQ's finish-and-fetch-next, which saves the slot a round trip per job.
local function with_next(reply, wait, running, job_prefix, next_token, ttl_ms, now)
  if next_token ~= '' then
    local taken = take_next(wait, running, job_prefix, next_token, ttl_ms, now)
    if taken then
      for _, v in ipairs(taken) do reply[#reply + 1] = v end
    end
  end
  return reply
end
