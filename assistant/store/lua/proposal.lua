-- proposal: add, edit or withdraw a reply proposal in a case thread, once per Slack event,
-- with its audit entry and its tone flag (a proposal the hostility scorer finds hostile is
-- flagged: it needs more manager approvals, see vote.lua and voting.managers_required).
-- One hash slot ({case_id}); the message -> case lookup of an added proposal is written by the
-- store before, the card update queued after ("added", "edited" and "withdrawn" change the card).
-- KEYS[1] event marker           coa:{cid}:evt:<event_id>
-- KEYS[2] case hash              coa:{cid}:case     ('flagged': active flagged proposals)
-- KEYS[3] proposal hash          coa:{cid}:prop:<ts>
-- KEYS[4] votes hash             coa:{cid}:votes:<ts>
-- KEYS[5] audit stream           coa:{cid}:audit
-- ARGV[1] op: add | edit | delete
-- ARGV[2] proposer user id (add; the editor for edit)
-- ARGV[3] text (add, edit)
-- ARGV[4] retention (s)
-- ARGV[5] event marker TTL (s)
-- ARGV[6] now (ms)
-- ARGV[7] tone flag (add, edit): 1 when the scorer finds the text hostile, else 0
-- ARGV[8] tone score (add, edit), for the audit entry
-- ARGV[9] proposal ts
-- Returns one of: duplicate, closed, unknown, exists, added, edited, unchanged, withdrawn, inactive.
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', tonumber(ARGV[5])) == false then
  return 'duplicate'
end
local status = redis.call('HGET', KEYS[2], 'status')
if not status then
  return 'unknown'
end
local op = ARGV[1]
local ttl = tonumber(ARGV[4])
local now = ARGV[6]
local flagged = ARGV[7] == '1'
local function ignored(actor, reason)
  audit(KEYS[5], ttl, now, actor, 'proposal_ignored', {ts = ARGV[9], op = op, reason = reason})
end
if op == 'add' then
  if status ~= 'open' then
    ignored(ARGV[2], 'case ' .. status)
    return 'closed'
  end
  if redis.call('EXISTS', KEYS[3]) == 1 then
    return 'exists'
  end
  redis.call('HSET', KEYS[3], 'user', ARGV[2], 'text', ARGV[3], 'status', 'active', 'version', 1,
    'flagged', flagged and 1 or 0, 'added_at', now)
  redis.call('EXPIRE', KEYS[3], ttl)
  redis.call('HINCRBY', KEYS[2], 'proposals', 1)
  if flagged then redis.call('HINCRBY', KEYS[2], 'flagged', 1) end
  audit(KEYS[5], ttl, now, ARGV[2], 'proposal_added',
    {ts = ARGV[9], text = ARGV[3], tone_flagged = flagged, tone_score = tonumber(ARGV[8])})
  return 'added'
end
local prop = redis.call('HMGET', KEYS[3], 'status', 'user', 'flagged')
local pstatus, author, was_flagged = prop[1], prop[2], prop[3] == '1'
if not pstatus then
  return 'unknown'
end
if status ~= 'open' then
  ignored(author, 'case ' .. status)
  return 'closed'
end
if pstatus ~= 'active' then
  return 'inactive'
end
if op == 'edit' then
  -- Slack also sends message_changed for unfurls: same text keeps its votes.
  if redis.call('HGET', KEYS[3], 'text') == ARGV[3] then
    return 'unchanged'
  end
  local version = redis.call('HINCRBY', KEYS[3], 'version', 1)
  redis.call('HSET', KEYS[3], 'text', ARGV[3], 'flagged', flagged and 1 or 0)
  redis.call('DEL', KEYS[4])
  if flagged ~= was_flagged then
    redis.call('HINCRBY', KEYS[2], 'flagged', flagged and 1 or -1)
  end
  audit(KEYS[5], ttl, now, author, 'proposal_edited', {ts = ARGV[9], text = ARGV[3],
    version = version, votes_cleared = true, tone_flagged = flagged,
    tone_score = tonumber(ARGV[8])})
  return 'edited'
end
if op == 'delete' then
  redis.call('HSET', KEYS[3], 'status', 'withdrawn')
  redis.call('DEL', KEYS[4])
  redis.call('HINCRBY', KEYS[2], 'proposals', -1)
  if was_flagged then redis.call('HINCRBY', KEYS[2], 'flagged', -1) end
  audit(KEYS[5], ttl, now, author, 'proposal_withdrawn', {ts = ARGV[9]})
  return 'withdrawn'
end
return redis.error_reply('unknown op ' .. op)
