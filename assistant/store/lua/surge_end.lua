-- surge_end: end a channel's surge once no hostile mention came for the quiet period.
-- Idempotent: an ended surge answers 'ended' again (its job may run twice).
-- One hash slot ({surge.<channel>}).
-- KEYS[1] surge state hash       coa:{surge.C}:state
-- ARGV[1] now (ms)
-- ARGV[2] quiet period (ms)
-- ARGV[3] the surge id the job is about
-- Returns {'none'} (no such surge), {'wait', due ms} (not quiet yet) or {'ended', ended ms}.
local state = redis.call('HMGET', KEYS[1], 'id', 'last', 'ended')
if state[1] ~= ARGV[3] then
  return {'none', 0}
end
if state[3] then
  return {'ended', tonumber(state[3])}
end
local due = tonumber(state[2]) + tonumber(ARGV[2])
if tonumber(ARGV[1]) < due then
  return {'wait', due}
end
redis.call('HSET', KEYS[1], 'ended', ARGV[1])
return {'ended', tonumber(ARGV[1])}
