-- settle_job: finish, reschedule, retry or renew the lease of a claimed job, only if nobody
-- re-queued it since. One hash slot ({jobs.N}).
-- KEYS[1] due zset               coa:{jobs.N}:due
-- KEYS[2] attempts hash          coa:{jobs.N}:attempts
-- KEYS[3] payload hash           coa:{jobs.N}:payload
-- ARGV[1] job member
-- ARGV[2] lease score returned by claim_jobs
-- ARGV[3] op: done | again | retry | renew
-- ARGV[4] retry: now (ms); again: the next run's due time (ms); renew: the new lease score
--         (ms), now + the lease, while the job still runs (its worker settles with that score)
-- ARGV[5] retry: base delay (ms); the n-th failure waits base * 2^(n-1), capped
-- ARGV[6] retry: delay cap (ms)
-- ARGV[7] retry: minimum delay (ms), e.g. a Retry-After
-- ARGV[8] retry: max attempts
-- ARGV[9] retry: retention (s)
-- Returns: done, again, renew -> 0; retry -> the failed attempts so far (job due again later), or -2
-- when max attempts is reached (the job keeps its lease: the caller gives up, then settles
-- done); -1 when the job was re-queued since the claim (it stays due and runs again).
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if (not score) or tonumber(score) ~= tonumber(ARGV[2]) then
  return -1
end
if ARGV[3] == 'done' then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('HDEL', KEYS[3], ARGV[1])
  return 0
end
if ARGV[3] == 'renew' then
  redis.call('ZADD', KEYS[1], 'XX', ARGV[4], ARGV[1])
  return 0
end
if ARGV[3] == 'again' then
  redis.call('ZADD', KEYS[1], 'XX', ARGV[4], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  return 0
end
local attempts = redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[9]))
if attempts >= tonumber(ARGV[8]) then
  return -2
end
local delay = math.min(tonumber(ARGV[6]), tonumber(ARGV[5]) * 2 ^ (attempts - 1))
delay = math.max(delay, tonumber(ARGV[7]))
redis.call('ZADD', KEYS[1], 'XX', tonumber(ARGV[4]) + delay, ARGV[1])
return attempts
