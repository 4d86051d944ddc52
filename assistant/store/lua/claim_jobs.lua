-- claim_jobs: take due jobs of one or more queue shards, each under a lease (its score moves to
-- now + lease). A worker that dies leaves the lease to expire; the job is then due again.
-- On a Redis Cluster the store passes ONE shard per call (one hash slot, {jobs.N}); on one
-- node it passes every shard in one call (slots do not matter there), saving round trips.
-- KEYS[2i-1] due zset of shard i         coa:{jobs.N}:due
-- KEYS[2i]   payload hash of shard i     coa:{jobs.N}:payload
-- ARGV[1] now (ms)
-- ARGV[2] lease (ms)
-- ARGV[2+i] max jobs to take from shard i (0: only look when its next job is due)
-- Returns one list per shard: {next due score after the claim or -1 when the shard is empty,
--                              member, lease score, payload, member, lease score, payload, ...}.
local now = tonumber(ARGV[1])
local lease_until = now + tonumber(ARGV[2])
local result = {}
for i = 1, #KEYS / 2 do
  local due_key, payload_key = KEYS[2 * i - 1], KEYS[2 * i]
  local limit = tonumber(ARGV[2 + i])
  local out = {-1}
  if limit > 0 then
    local due = redis.call('ZRANGEBYSCORE', due_key, '-inf', now, 'LIMIT', 0, limit)
    for _, member in ipairs(due) do
      redis.call('ZADD', due_key, 'XX', lease_until, member)
      table.insert(out, member)
      table.insert(out, tostring(lease_until))
      table.insert(out, redis.call('HGET', payload_key, member) or '')
    end
  end
  local first = redis.call('ZRANGE', due_key, 0, 0, 'WITHSCORES')
  if first[2] then
    out[1] = first[2]
  end
  table.insert(result, out)
end
return result
