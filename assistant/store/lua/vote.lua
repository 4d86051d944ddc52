-- vote: cast or retract one emoji vote on a proposal and decide the case, atomically, with
-- the audit entry of what the vote did (counted, retracted, ignored and why, veto, approval).
-- The first proposal of a case to reach the quorum wins; the case then takes no other decision.
-- The quorum rule is voting.tally + voting.decide (pure Python; unit tests compare the two):
-- >= N approvals from distinct humans, >= M of them managers (M + the tone surcharge when the
-- proposal is tone-flagged), no manager veto.
-- One hash slot ({case_id}); on "approved" the store queues the publish job (the outbox) and
-- the card update right after, and the sweep re-queues them if a crash came in between.
-- KEYS[1] event marker           coa:{cid}:evt:<event_id>
-- KEYS[2] case hash              coa:{cid}:case
-- KEYS[3] proposal hash          coa:{cid}:prop:<ts>
-- KEYS[4] votes hash             coa:{cid}:votes:<ts>   field "user|kind|emoji" -> "1" manager / "0"
-- KEYS[5] audit stream           coa:{cid}:audit
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
-- ARGV[12] extra manager approvals a tone-flagged proposal needs
-- Returns {outcome, approvals, manager approvals, manager vetoes}; outcome is one of
-- duplicate, unknown, closed, inactive, self, recorded, approved.
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', tonumber(ARGV[11])) == false then
  return {'duplicate', 0, 0, 0}
end
local status = redis.call('HGET', KEYS[2], 'status')
local prop = redis.call('HMGET', KEYS[3], 'user', 'status', 'text', 'flagged')
if (not status) or (not prop[1]) then
  return {'unknown', 0, 0, 0}
end
local ttl, now, voter = tonumber(ARGV[9]), ARGV[8], ARGV[2]
local what = {ts = ARGV[10], op = ARGV[1], kind = ARGV[3], emoji = ARGV[4],
  manager = ARGV[5] == '1'}
local function ignored(reason)
  what.reason = reason
  audit(KEYS[5], ttl, now, voter, 'vote_ignored', what)
end
if status ~= 'open' then
  ignored('case ' .. status)
  return {'closed', 0, 0, 0}
end
if prop[2] ~= 'active' then
  ignored('proposal ' .. prop[2])
  return {'inactive', 0, 0, 0}
end
if prop[1] == voter then
  ignored('self-vote')
  return {'self', 0, 0, 0}
end
local field = voter .. '|' .. ARGV[3] .. '|' .. ARGV[4]
if ARGV[1] == 'add' then
  redis.call('HSET', KEYS[4], field, ARGV[5])
  redis.call('EXPIRE', KEYS[4], ttl)
else
  redis.call('HDEL', KEYS[4], field)
end
if ARGV[3] == 'veto' and ARGV[5] ~= '1' then
  ignored('veto by a non-manager')
else
  local action = ARGV[1] == 'add' and 'vote_counted' or 'vote_retracted'
  if ARGV[3] == 'veto' then
    action = ARGV[1] == 'add' and 'veto' or 'veto_retracted'
  end
  audit(KEYS[5], ttl, now, voter, action, what)
end
-- Tally distinct humans: a person with two approve emoji counts once (voting.tally).
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
-- voting.decide: the tone surcharge applies to a flagged proposal
local managers_needed = tonumber(ARGV[7])
if prop[4] == '1' then
  managers_needed = managers_needed + tonumber(ARGV[12])
end
if a >= tonumber(ARGV[6]) and m >= managers_needed and v == 0 then
  redis.call('HSET', KEYS[2], 'status', 'approved', 'winner_ts', ARGV[10],
    'approved_text', prop[3], 'approved_at', now)
  redis.call('HSET', KEYS[3], 'status', 'won')
  audit(KEYS[5], ttl, now, 'assistant', 'approved', {ts = ARGV[10], text = prop[3],
    approvals = a, manager_approvals = m, tone_flagged = prop[4] == '1'})
  return {'approved', a, m, v}
end
return {'recorded', a, m, v}
