-- promote_case: a mention grouped under a surge card becomes a case of its own (the Promote
-- button). The store then writes its open-case index entry before and its jobs after, as
-- open_case does on a cluster.
-- One hash slot ({case_id}).
-- KEYS[1] case hash              coa:{cid}:case
-- KEYS[2] audit stream           coa:{cid}:audit (case_promoted, in the same step)
-- ARGV[1] escalation due (ms)
-- ARGV[2] who promoted it (Slack user id)
-- ARGV[3] now (ms)
-- ARGV[4] retention (s)
-- Returns 'promoted', or the status it has ('open', 'published', …), or 'missing'.
local status = redis.call('HGET', KEYS[1], 'status')
if not status then
  return 'missing'
end
if status ~= 'grouped' then
  return status
end
redis.call('HSET', KEYS[1], 'status', 'open', 'escalate_at', ARGV[1], 'promoted_by', ARGV[2])
audit(KEYS[2], ARGV[4], ARGV[3], ARGV[2], 'case_promoted', {escalate_at = tonumber(ARGV[1])})
return 'promoted'
