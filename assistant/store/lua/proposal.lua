-- proposal: add, edit or withdraw a reply proposal in a case thread, once per Slack event.
-- One hash slot ({case_id}); the message -> case lookup of an added proposal is written by the
-- store before, the card update queued after ("added" and "withdrawn" change the card).
-- KEYS[1] event marker           coa:{cid}:evt:<event_id>
-- KEYS[2] case hash              coa:{cid}:case
-- KEYS[3] proposal hash          coa:{cid}:prop:<ts>
-- KEYS[4] votes hash             coa:{cid}:votes:<ts>
-- ARGV[1] op: add | edit | delete
-- ARGV[2] proposer user id (add)
-- ARGV[3] text (add, edit)
-- ARGV[4] retention (s)
-- ARGV[5] event marker TTL (s)
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
if op == 'add' then
  if status ~= 'open' then
    return 'closed'
  end
  if redis.call('EXISTS', KEYS[3]) == 1 then
    return 'exists'
  end
  redis.call('HSET', KEYS[3], 'user', ARGV[2], 'text', ARGV[3], 'status', 'active', 'version', 1)
  redis.call('EXPIRE', KEYS[3], ttl)
  redis.call('HINCRBY', KEYS[2], 'proposals', 1)
  return 'added'
end
local pstatus = redis.call('HGET', KEYS[3], 'status')
if not pstatus then
  return 'unknown'
end
if status ~= 'open' then
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
  redis.call('HSET', KEYS[3], 'text', ARGV[3])
  redis.call('HINCRBY', KEYS[3], 'version', 1)
  redis.call('DEL', KEYS[4])
  return 'edited'
end
if op == 'delete' then
  redis.call('HSET', KEYS[3], 'status', 'withdrawn')
  redis.call('DEL', KEYS[4])
  redis.call('HINCRBY', KEYS[2], 'proposals', -1)
  return 'withdrawn'
end
return redis.error_reply('unknown op ' .. op)
