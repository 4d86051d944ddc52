-- finish_case: record a publish outcome (published / failed) or an escalation, exactly once,
-- finish the corresponding jobs and queue a card update.
-- KEYS[1] case hash              coa:{cid}:case
-- KEYS[2] jobs zset              coa:jobs
-- KEYS[3] attempts hash          coa:jobs:attempts
-- ARGV[1] outcome: published | failed | escalated
-- ARGV[2] now (ms)
-- ARGV[3] card-update job member cardupd:<cid>
-- ARGV[4] job member to finish   publish:<cid> or sla:<cid>
-- ARGV[5] published: public URL;  failed: reason
-- ARGV[6] published: network status id
-- ARGV[7] SLA job member         sla:<cid> (published: no escalation any more)
-- ARGV[8] retention (s)
-- Returns 1 when recorded, 0 when the case was not in a state to take it.
local status = redis.call('HGET', KEYS[1], 'status')
local outcome = ARGV[1]
if outcome == 'escalated' then
  if status == 'published' or redis.call('HEXISTS', KEYS[1], 'escalated_at') == 1 then
    redis.call('ZREM', KEYS[2], ARGV[4])
    return 0
  end
  redis.call('HSET', KEYS[1], 'escalated_at', ARGV[2])
elseif status ~= 'approved' then
  return 0
elseif outcome == 'published' then
  redis.call('HSET', KEYS[1], 'status', 'published', 'published_at', ARGV[2],
    'published_url', ARGV[5], 'published_id', ARGV[6])
  redis.call('ZREM', KEYS[2], ARGV[7])
  redis.call('HDEL', KEYS[3], ARGV[7])
else
  redis.call('HSET', KEYS[1], 'status', 'failed', 'failure', ARGV[5])
end
redis.call('ZREM', KEYS[2], ARGV[4])
redis.call('HDEL', KEYS[3], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[8]))
return 1
