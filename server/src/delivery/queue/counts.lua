-- KEYS: wait, running, delayed, succeeded, failed, completed, active (the last two as older
-- versions kept them, until `maintain` has moved or emptied them). One consistent snapshot.
return {redis.call('LLEN', KEYS[1]), redis.call('LLEN', KEYS[2]) + redis.call('LLEN', KEYS[7]),
  redis.call('ZCARD', KEYS[3]), redis.call('LLEN', KEYS[4]) + redis.call('ZCARD', KEYS[6]),
  redis.call('ZCARD', KEYS[5])}
