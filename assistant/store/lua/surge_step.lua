-- surge_step: count a new hostile mention for its channel; detect a surge (ARGV[3] mentions
-- within ARGV[2] ms) and, during one, record the mention in the surge's figures and decide
-- whether it deserves its own card or is grouped under the surge card. The rule is
-- assistant/surge.py's deserves_card(), executed here atomically (tests compare the two).
-- One hash slot ({surge.<channel>}).
-- KEYS[1] rate hash (bucket -> count)    coa:{surge.C}:rate
-- KEYS[2] surge state hash               coa:{surge.C}:state
-- KEYS[3] most-followed authors zset      coa:{surge.C}:authors
-- KEYS[4] sample texts list              coa:{surge.C}:samples
-- KEYS[5] grouped mentions zset          coa:{surge.C}:grouped
-- ARGV[1] now (ms)            ARGV[2] window (ms)       ARGV[3] threshold (0: never)
-- ARGV[4] case id             ARGV[5] platform          ARGV[6] author handle
-- ARGV[7] author followers    ARGV[8] categories (space-separated)
-- ARGV[9] sample text (cut)   ARGV[10] threat (1/0)     ARGV[11] priority
-- ARGV[12] reach threshold    ARGV[13] cards per minute ARGV[14] retention (s)
-- ARGV[15] card refresh interval (ms)  ARGV[16] samples kept  ARGV[17] authors kept
-- On one node (slots do not matter there) the store also passes the case, so that a grouped
-- mention — the hot path of a surge — costs this one call (the store looks for a duplicate
-- first and calls open_case.lua on a cluster):
-- KEYS[6] (one node) the case hash coa:{cid}:case: a duplicate is not counted; a grouped
--         mention is stored here as open_case.lua would with its 'grouped' mode
-- KEYS[7] (one node) the case's audit stream coa:{cid}:audit (case_grouped, as open_case.lua)
-- KEYS[8] (one node, optional) the day's mention counts coa:mentions:<day>: seen and hostile
--         +1 when the grouped case is stored here (as open_case.lua's KEYS[6])
-- ARGV[18] (one node) case data (JSON)   ARGV[19] (one node) escalation due (ms)
-- ARGV[20] (one node) audit details (JSON)
-- Returns {decision ('none' outside a surge | 'card' | 'group' | 'duplicate'), reason,
--          surge id, entered (1 when this mention started the surge), refresh (1: queue a
--          card update), stored (1 when the grouped case was written here)}.
if KEYS[6] and redis.call('EXISTS', KEYS[6]) == 1 then
  return {'duplicate', '', '', 0, 0, 0}
end
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local threshold = tonumber(ARGV[3])
local ttl = tonumber(ARGV[14])
local bucket_ms = math.max(1000, math.floor(window / 60))
local bucket = math.floor(now / bucket_ms)
local oldest = math.floor((now - window) / bucket_ms) + 1
redis.call('HINCRBY', KEYS[1], bucket, 1)
redis.call('PEXPIRE', KEYS[1], window + bucket_ms)
local count = 0
local rows = redis.call('HGETALL', KEYS[1])
for i = 1, #rows, 2 do
  local b = tonumber(rows[i])
  if b < oldest then
    redis.call('HDEL', KEYS[1], rows[i])
  else
    count = count + tonumber(rows[i + 1])
  end
end
local state = redis.call('HMGET', KEYS[2], 'id', 'ended')
local entered = 0
if not state[1] or state[2] then
  if threshold <= 0 or count < threshold then
    return {'none', '', '', 0, 0, 0}
  end
  redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5])
  redis.call('HSET', KEYS[2], 'id', ARGV[1], 'started', ARGV[1], 'count', 0, 'carded', 0,
    'grouped', 0, 'minute', 0, 'minute_cards', 0)
  entered = 1
end
local id = redis.call('HGET', KEYS[2], 'id')
redis.call('HINCRBY', KEYS[2], 'count', 1)
redis.call('HSET', KEYS[2], 'last', ARGV[1], 'window_count', count)
redis.call('HINCRBY', KEYS[2], 'net:' .. ARGV[5], 1)
for category in string.gmatch(ARGV[8], '%S+') do
  redis.call('HINCRBY', KEYS[2], 'cat:' .. category, 1)
end
local followers = tonumber(ARGV[7])
local known = redis.call('ZSCORE', KEYS[3], ARGV[6])
if not known or followers > tonumber(known) then
  redis.call('ZADD', KEYS[3], followers, ARGV[6])
end
redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -(tonumber(ARGV[17]) + 1))
redis.call('LPUSH', KEYS[4], ARGV[9])
redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[16]) - 1)
-- the rule (surge.deserves_card)
local minute = math.floor(now / 60000)
if tonumber(redis.call('HGET', KEYS[2], 'minute')) ~= minute then
  redis.call('HSET', KEYS[2], 'minute', minute, 'minute_cards', 0)
end
local minute_cards = tonumber(redis.call('HGET', KEYS[2], 'minute_cards'))
local best = redis.call('HGET', KEYS[2], 'best_grouped')
local priority = tonumber(ARGV[11])
local reason = ''
if ARGV[10] == '1' then
  reason = 'threat'
elseif minute_cards >= tonumber(ARGV[13]) then
  reason = ''
elseif followers >= tonumber(ARGV[12]) then
  reason = 'reach'
elseif not best or priority > tonumber(best) then
  reason = 'top'
end
local decision = 'group'
local stored = 0
if reason ~= '' then
  decision = 'card'
  redis.call('HINCRBY', KEYS[2], 'carded', 1)
  redis.call('HINCRBY', KEYS[2], 'minute_cards', 1)
else
  redis.call('HINCRBY', KEYS[2], 'grouped', 1)
  redis.call('ZADD', KEYS[5], priority, ARGV[4])
  if not best or priority > tonumber(best) then
    redis.call('HSET', KEYS[2], 'best_grouped', ARGV[11])
  end
  if KEYS[6] then
    redis.call('HSET', KEYS[6], 'status', 'grouped', 'data', ARGV[18], 'proposals', 0,
      'escalate_at', ARGV[19])
    redis.call('EXPIRE', KEYS[6], ttl)
    audit(KEYS[7], ttl, now, 'assistant', 'case_grouped', cjson.decode(ARGV[20]))
    if KEYS[8] then
      count_hostile(KEYS[8], ttl)
    end
    stored = 1
  end
end
local refresh = 0
local due = tonumber(redis.call('HGET', KEYS[2], 'refresh_at'))
if entered == 1 or not due or now >= due then
  redis.call('HSET', KEYS[2], 'refresh_at', now + tonumber(ARGV[15]))
  refresh = 1
end
for i = 2, 5 do
  redis.call('EXPIRE', KEYS[i], ttl)
end
return {decision, reason, id, entered, refresh, stored}
