-- claim_jobs: take up to N due jobs, each under a lease (its score moves to now + lease).
-- A worker that dies leaves the lease to expire; the job is then due again for anyone.
-- KEYS[1] jobs zset              coa:jobs
-- ARGV[1] now (ms)
-- ARGV[2] lease (ms)
-- ARGV[3] max jobs
-- Returns a flat list {member, lease score, member, lease score, ...}.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local lease_until = tonumber(ARGV[1]) + tonumber(ARGV[2])
local out = {}
for _, member in ipairs(due) do
  redis.call('ZADD', KEYS[1], 'XX', lease_until, member)
  table.insert(out, member)
  table.insert(out, tostring(lease_until))
end
return out
