-- KEYS: wait, active, delayed, succeeded, failed, completed (the sorted set of older versions,
-- until `maintain` has moved it). One consistent snapshot.
return {redis.call('LLEN', KEYS[1]), redis.call('LLEN', KEYS[2]), redis.call('ZCARD', KEYS[3]),
  redis.call('LLEN', KEYS[4]) + redis.call('ZCARD', KEYS[6]), redis.call('ZCARD', KEYS[5])}
