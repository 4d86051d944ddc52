-- claim_jobs: take up to N due jobs of one queue shard, each under a lease (its score moves to
-- now + lease). A worker that dies leaves the lease to expire; the job is then due again.
-- One hash slot ({jobs.N}); the runner claims from every shard in turn (see Store.claim_jobs).
-- KEYS[1] due zset               coa:{jobs.N}:due
-- KEYS[2] payload hash           coa:{jobs.N}:payload
-- ARGV[1] now (ms)
-- ARGV[2] lease (ms)
-- ARGV[3] max jobs (0: only look when the next job is due)
-- Returns {next due score after the claim or -1 when the shard is empty,
--          member, lease score, payload, member, lease score, payload, ...}.
local limit = tonumber(ARGV[3])
local out = {-1}
if limit > 0 then
  local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, limit)
  local lease_until = tonumber(ARGV[1]) + tonumber(ARGV[2])
  for _, member in ipairs(due) do
    redis.call('ZADD', KEYS[1], 'XX', lease_until, member)
    table.insert(out, member)
    table.insert(out, tostring(lease_until))
    table.insert(out, redis.call('HGET', KEYS[2], member) or '')
  end
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if first[2] then
  out[1] = first[2]
end
return out
