-- A worker's take: locks the job its BLMOVE just moved to running (ARGV[3], '' when none), then
-- moves and locks further waiting jobs, one per remaining token (one token per free slot).
-- The moved job may have been put back by `maintain` meanwhile (and even taken by another
-- worker), so it is only locked if still in running and unlocked; its slot stays free either way.
-- Tokens go in order to the jobs locked.
-- KEYS: wait, running, stalled. ARGV: job_prefix, ttl_ms, moved id, token....
-- → {id, payload, attempt, id, payload, attempt, ...}
local now = now_ms()
local reply = {}
local tokens = {}
for i = 4, #ARGV do tokens[#tokens + 1] = ARGV[i] end
local next_token = 1
local wanted = #tokens
local moved = ARGV[3]
if moved ~= '' then
  wanted = wanted - 1
  if redis.call('LPOS', KEYS[2], moved) and not lock_holder(ARGV[1] .. moved, now) then
    local taken = lock(moved, ARGV[1], tokens[1], ARGV[2], now, KEYS[3])
    if taken then
      for _, v in ipairs(taken) do reply[#reply + 1] = v end
      next_token = 2
    else
      redis.call('LREM', KEYS[2], 0, moved)
    end
  end
end
for _ = 1, wanted do
  local taken = take_next(KEYS[1], KEYS[2], ARGV[1], tokens[next_token], ARGV[2], now)
  if not taken then break end
  for _, v in ipairs(taken) do reply[#reply + 1] = v end
  next_token = next_token + 1
end
return reply
