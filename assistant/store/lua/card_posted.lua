-- card_posted: record the Slack ts of a case's card and finish the post-card job.
-- KEYS[1] case hash              coa:{cid}:case
-- KEYS[2] message -> case key    coa:msg:<channel>:<ts>
-- KEYS[3] jobs zset              coa:jobs
-- KEYS[4] attempts hash          coa:jobs:attempts
-- ARGV[1] card ts
-- ARGV[2] case id
-- ARGV[3] retention (s)
-- ARGV[4] post-card job member   card:<cid>
-- ARGV[5] card-update job member cardupd:<cid>
-- ARGV[6] now (ms)
-- Returns 1 when recorded, 0 when the case already had a card (a duplicate post).
redis.call('ZREM', KEYS[3], ARGV[4])
redis.call('HDEL', KEYS[4], ARGV[4])
if redis.call('HSETNX', KEYS[1], 'card_ts', ARGV[1]) == 0 then
  return 0
end
redis.call('SET', KEYS[2], ARGV[2], 'EX', tonumber(ARGV[3]))
-- the state may have moved on while the card was being posted: render it once more
if redis.call('HGET', KEYS[1], 'status') ~= 'open' or redis.call('HEXISTS', KEYS[1], 'escalated_at') == 1 then
  redis.call('ZADD', KEYS[3], ARGV[6], ARGV[5])
  redis.call('EXPIRE', KEYS[3], tonumber(ARGV[3]))
end
return 1
