-- card_posted: record the Slack ts of a case's card (once), with its audit entry, and with
-- drafts configured mark the case as wanting them (drafts_due: the sweep's cue on a cluster).
-- One hash slot ({case_id}) on a Redis Cluster: the store then queues the card's follow-up
-- jobs. On one node it passes the case's job shard too and this script queues them in the same
-- step (slots do not matter there): a crash cannot come between the card and its drafts.
-- The message -> case lookup is written by the store before.
-- KEYS[1] case hash              coa:{cid}:case
-- KEYS[2] audit stream           coa:{cid}:audit
-- KEYS[3] (one node) the case's job shard coa:{jobs.N}:due
-- ARGV[1] card ts
-- ARGV[2] now (ms)
-- ARGV[3] retention (s)
-- ARGV[4] drafts job member      drafts:<cid>, or '' without drafts
-- ARGV[5] (one node) card update job member   cardupd:<cid>
-- Returns 0 when the case already had a card (a duplicate post), 1 when recorded, 2 when
-- recorded and the state moved on while the card was being posted (render it once more).
if redis.call('HSETNX', KEYS[1], 'card_ts', ARGV[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], 'card_at', ARGV[2])
audit(KEYS[2], ARGV[3], ARGV[2], 'assistant', 'card_posted', {ts = ARGV[1]})
local moved = redis.call('HGET', KEYS[1], 'status') ~= 'open'
  or redis.call('HEXISTS', KEYS[1], 'escalated_at') == 1
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[1], 'drafts_due', '1')
end
if KEYS[3] then
  if ARGV[4] ~= '' then
    redis.call('ZADD', KEYS[3], 'NX', ARGV[2], ARGV[4])
  end
  if moved then
    redis.call('ZADD', KEYS[3], ARGV[2], ARGV[5])
  end
  redis.call('EXPIRE', KEYS[3], tonumber(ARGV[3]))
end
if moved then
  return 2
end
return 1
