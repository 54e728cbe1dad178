-- KEYS: wait, running, delayed, succeeded, failed, completed, active (the last two as older
-- versions kept them, until `maintain` has moved or emptied them). ARGV: keep_completed (the
-- succeeded list runs up to a batch past it between trims; the ids past it are as good as gone).
-- One consistent snapshot.
return {redis.call('LLEN', KEYS[1]), redis.call('LLEN', KEYS[2]) + redis.call('LLEN', KEYS[7]),
  redis.call('ZCARD', KEYS[3]),
  math.min(redis.call('LLEN', KEYS[4]), tonumber(ARGV[1])) + redis.call('ZCARD', KEYS[6]),
  redis.call('ZCARD', KEYS[5])}
