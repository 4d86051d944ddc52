-- queue_job: queue, re-queue or cancel a job in its shard of the job queue.
-- One hash slot ({jobs.N}).
-- KEYS[1] due zset               coa:{jobs.N}:due
-- KEYS[2] payload hash           coa:{jobs.N}:payload
-- KEYS[3] attempts hash          coa:{jobs.N}:attempts
-- ARGV[1] op: set | keep | cancel
--         set: due at ARGV[3] even if queued or running (a running job then runs once more:
--              its worker's settle sees the new score); keep: only if not queued yet
-- ARGV[2] job member             kind:id
-- ARGV[3] due (ms)
-- ARGV[4] payload ('' for none)
-- ARGV[5] retention (s)
-- Returns 1 when the job was queued (or cancelled), 0 when it was left as it was.
local op = ARGV[1]
if op == 'cancel' then
  redis.call('HDEL', KEYS[2], ARGV[2])
  redis.call('HDEL', KEYS[3], ARGV[2])
  return redis.call('ZREM', KEYS[1], ARGV[2])
end
if op == 'keep' and redis.call('ZSCORE', KEYS[1], ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[2], ARGV[2], ARGV[4])
  redis.call('EXPIRE', KEYS[2], tonumber(ARGV[5]))
end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[5]))
return 1
