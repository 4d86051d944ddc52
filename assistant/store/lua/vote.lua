-- vote: cast or retract one emoji vote on a proposal and decide the case, atomically.
-- The first proposal of a case to reach the quorum wins; the case then takes no other decision.
-- One hash slot ({case_id}); on "approved" the store queues the publish job (the outbox) and
-- the card update right after, and the sweep re-queues them if a crash came in between.
-- KEYS[1] event marker           coa:{cid}:evt:<event_id>
-- KEYS[2] case hash              coa:{cid}:case
-- KEYS[3] proposal hash          coa:{cid}:prop:<ts>
-- KEYS[4] votes hash             coa:{cid}:votes:<ts>   field "user|kind|emoji" -> "1" manager / "0"
-- ARGV[1] op: add | remove
-- ARGV[2] voter user id
-- ARGV[3] kind: approve | veto
-- ARGV[4] emoji base name (skin tone stripped)
-- ARGV[5] voter is a manager: 1 | 0
-- ARGV[6] approvals required (distinct humans)
-- ARGV[7] manager approvals required
-- ARGV[8] now (ms)
-- ARGV[9] retention (s)
-- ARGV[10] proposal ts
-- ARGV[11] event marker TTL (s)
-- Returns {outcome, approvals, manager approvals, manager vetoes}; outcome is one of
-- duplicate, unknown, closed, inactive, self, recorded, approved.
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', tonumber(ARGV[11])) == false then
  return {'duplicate', 0, 0, 0}
end
local status = redis.call('HGET', KEYS[2], 'status')
local prop = redis.call('HMGET', KEYS[3], 'user', 'status', 'text')
if (not status) or (not prop[1]) then
  return {'unknown', 0, 0, 0}
end
if status ~= 'open' then
  return {'closed', 0, 0, 0}
end
if prop[2] ~= 'active' then
  return {'inactive', 0, 0, 0}
end
if prop[1] == ARGV[2] then
  return {'self', 0, 0, 0}
end
local field = ARGV[2] .. '|' .. ARGV[3] .. '|' .. ARGV[4]
if ARGV[1] == 'add' then
  redis.call('HSET', KEYS[4], field, ARGV[5])
  redis.call('EXPIRE', KEYS[4], tonumber(ARGV[9]))
else
  redis.call('HDEL', KEYS[4], field)
end
-- Tally distinct humans: a person with two approve emoji counts once.
local approvers, manager_approvers, manager_vetoes = {}, {}, {}
local flat = redis.call('HGETALL', KEYS[4])
for i = 1, #flat, 2 do
  local user, kind = string.match(flat[i], '^([^|]+)|([^|]+)|')
  local is_manager = flat[i + 1] == '1'
  if kind == 'approve' then
    approvers[user] = true
    if is_manager then manager_approvers[user] = true end
  elseif kind == 'veto' and is_manager then
    manager_vetoes[user] = true
  end
end
local function count(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end
local a, m, v = count(approvers), count(manager_approvers), count(manager_vetoes)
if a >= tonumber(ARGV[6]) and m >= tonumber(ARGV[7]) and v == 0 then
  redis.call('HSET', KEYS[2], 'status', 'approved', 'winner_ts', ARGV[10],
    'approved_text', prop[3], 'approved_at', ARGV[8])
  redis.call('HSET', KEYS[3], 'status', 'won')
  return {'approved', a, m, v}
end
return {'recorded', a, m, v}
