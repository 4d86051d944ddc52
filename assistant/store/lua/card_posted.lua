-- card_posted: record the Slack ts of a case's card (once).
-- One hash slot ({case_id}); the message -> case lookup is written by the store before.
-- KEYS[1] case hash              coa:{cid}:case
-- Returns 0 when the case already had a card (a duplicate post), 1 when recorded, 2 when
-- recorded and the state moved on while the card was being posted (render it once more).
-- ARGV[1] card ts
if redis.call('HSETNX', KEYS[1], 'card_ts', ARGV[1]) == 0 then
  return 0
end
if redis.call('HGET', KEYS[1], 'status') ~= 'open' or redis.call('HEXISTS', KEYS[1], 'escalated_at') == 1 then
  return 2
end
return 1
