-- rate_limit: the token bucket of one Slack channel, shared by every replica. Every
-- chat.postMessage / chat.update to the channel takes a token first; a 429 from Slack pushes
-- the bucket back by its Retry-After. Time is the Redis server's (TIME): replicas' clocks
-- may differ, the bucket's may not.
-- One hash slot ({rate.<channel>}).
-- KEYS[1] bucket hash            coa:{rate.<channel>}:bucket (tokens, at, until, hold)
-- ARGV[1] op: take | priority | penalize | hold | peek
--         take: a token if one is free and no priority post is waiting;
--         peek: the wait a take would get now, nothing taken or written (a job waiting for
--               the channel asks before it prepares its message);
--         priority: a token if one is free (a surge card or a page: ahead of the queue);
--         penalize: Slack answered 429: no token until now + ARGV[4] ms;
--         hold: priority post waiting: plain takes wait up to ARGV[4] ms (or until it posts)
-- ARGV[2] rate (tokens per second)
-- ARGV[3] burst (tokens at most)
-- ARGV[4] ms (penalize: Retry-After; hold: its longest duration)
-- Returns 0 when a token was taken (send now), else the ms to wait before asking again.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local op = ARGV[1]
local rate = tonumber(ARGV[2]) / 1000 -- tokens per ms
local burst = tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at', 'until', 'hold')
local tokens = tonumber(b[1]) or burst
local at = tonumber(b[2]) or now
local blocked = tonumber(b[3]) or 0
local hold = tonumber(b[4]) or 0
if now > at then
  tokens = math.min(burst, tokens + (now - at) * rate)
  at = now
end
if op == 'peek' then
  if blocked > now then
    return blocked - now
  elseif hold > now then
    return math.min(hold - now, math.ceil(1 / rate))
  elseif tokens >= 1 then
    return 0
  end
  return math.ceil((1 - tokens) / rate)
end
local wait = 0
if op == 'penalize' then
  blocked = math.max(blocked, now + tonumber(ARGV[4]))
  tokens = 0
elseif op == 'hold' then
  hold = math.max(hold, now + tonumber(ARGV[4]))
elseif blocked > now then
  wait = blocked - now
elseif op == 'take' and hold > now then
  wait = math.min(hold - now, math.ceil(1 / rate))
elseif tokens >= 1 then
  tokens = tokens - 1
  if op == 'priority' then
    hold = 0
  end
else
  wait = math.ceil((1 - tokens) / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(at),
  'until', tostring(blocked), 'hold', tostring(hold))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate) + math.max(0, blocked - now, hold - now)
  + 60000)
return math.max(wait, 0)
