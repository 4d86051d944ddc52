-- finish_case: record a publish outcome (published / failed) or an escalation, exactly once,
-- with its audit entry. One hash slot ({case_id}) on a Redis Cluster: the store then queues
-- the card update (and, for a publish outcome, its follow-up job) and settles the jobs. On
-- one node it passes the case's job shard too and this script queues them in the same step
-- (slots do not matter there): a crash cannot come between the outcome and its follow-ups.
-- KEYS[1] case hash              coa:{cid}:case
-- KEYS[2] audit stream           coa:{cid}:audit
-- KEYS[3] (one node) the case's job shard coa:{jobs.N}:due
-- ARGV[1] outcome: published | failed | escalated
-- ARGV[2] now (ms)
-- ARGV[3] published: public URL;  failed: reason
-- ARGV[4] published: network status id
-- ARGV[5] retention (s)
-- ARGV[6] (one node) card update job member   cardupd:<cid>   (due now, moved if queued)
-- ARGV[7] (one node) follow-up job member     settled:<cid>   (published / failed only)
-- Returns 1 when recorded, 0 when the case was not in a state to take it.
local status = redis.call('HGET', KEYS[1], 'status')
local outcome = ARGV[1]
if outcome == 'escalated' then
  if (not status) or status == 'published' or redis.call('HEXISTS', KEYS[1], 'escalated_at') == 1 then
    return 0
  end
  redis.call('HSET', KEYS[1], 'escalated_at', ARGV[2])
  audit(KEYS[2], ARGV[5], ARGV[2], 'assistant', 'escalated', {status = status})
elseif status ~= 'approved' then
  return 0
elseif outcome == 'published' then
  redis.call('HSET', KEYS[1], 'status', 'published', 'published_at', ARGV[2],
    'published_url', ARGV[3], 'published_id', ARGV[4])
  audit(KEYS[2], ARGV[5], ARGV[2], 'assistant', 'published', {url = ARGV[3], status_id = ARGV[4]})
else
  redis.call('HSET', KEYS[1], 'status', 'failed', 'failure', ARGV[3])
  audit(KEYS[2], ARGV[5], ARGV[2], 'assistant', 'publish_failed', {reason = ARGV[3]})
end
if KEYS[3] then
  redis.call('ZADD', KEYS[3], ARGV[2], ARGV[6])
  if outcome ~= 'escalated' then
    redis.call('ZADD', KEYS[3], 'NX', ARGV[2], ARGV[7])
  end
  redis.call('EXPIRE', KEYS[3], tonumber(ARGV[5]))
end
return 1
