-- card_posted: record the Slack ts of a case's card (once), with its audit entry.
-- One hash slot ({case_id}); the message -> case lookup is written by the store before.
-- KEYS[1] case hash              coa:{cid}:case
-- KEYS[2] audit stream           coa:{cid}:audit
-- ARGV[1] card ts
-- ARGV[2] now (ms)
-- ARGV[3] retention (s)
-- Returns 0 when the case already had a card (a duplicate post), 1 when recorded, 2 when
-- recorded and the state moved on while the card was being posted (render it once more).
if redis.call('HSETNX', KEYS[1], 'card_ts', ARGV[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], 'card_at', ARGV[2])
audit(KEYS[2], ARGV[3], ARGV[2], 'assistant', 'card_posted', {ts = ARGV[1]})
if redis.call('HGET', KEYS[1], 'status') ~= 'open' or redis.call('HEXISTS', KEYS[1], 'escalated_at') == 1 then
  return 2
end
return 1
