-- page: the atomic steps of an on-call page. One hash slot ({pages}).
-- KEYS[1] page hash          coa:{pages}:page:<id>
-- KEYS[2] open-page index    coa:{pages}:open
-- KEYS[3] the case's pages   coa:{pages}:case:<case_id> (open only; any {pages} key otherwise)
-- ARGV[1] op: open | ack | resolve | advance
-- ARGV[2] now (ms)
-- ARGV[3] retention (s)
-- open:    ARGV[4] page id, ARGV[5] JSON object of the record's fields → 1 new, 0 existed
-- ack:     ARGV[4] user → {outcome, acked_by, acked_at}; outcome acked | already | resolved
--          | unknown (only an open page takes an ack)
-- resolve: ARGV[4] why → 1 resolved, 0 not open
-- advance: ARGV[4] the step notified, ARGV[5] channel of the message, ARGV[6] its ts (the
--          first step's message is the page's) → 1 advanced, 0 already (or not open)
local op = ARGV[1]
local ttl = tonumber(ARGV[3])
if op == 'open' then
  if redis.call('EXISTS', KEYS[1]) == 1 then
    return 0
  end
  local fields = cjson.decode(ARGV[5])
  local flat = {}
  for k, v in pairs(fields) do
    flat[#flat + 1] = k
    flat[#flat + 1] = tostring(v)
  end
  redis.call('HSET', KEYS[1], 'status', 'open', 'step', '0', 'created_at', ARGV[2], unpack(flat))
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[4])
  redis.call('EXPIRE', KEYS[2], ttl)
  if fields['case_id'] and fields['case_id'] ~= '' then
    redis.call('SADD', KEYS[3], ARGV[4])
    redis.call('EXPIRE', KEYS[3], ttl)
  end
  return 1
end
local status = redis.call('HGET', KEYS[1], 'status')
if op == 'ack' then
  if not status then
    return {'unknown', '', ''}
  end
  if status == 'acked' then
    return {'already', redis.call('HGET', KEYS[1], 'acked_by'), redis.call('HGET', KEYS[1], 'acked_at')}
  end
  if status ~= 'open' then
    return {status, '', ''}
  end
  redis.call('HSET', KEYS[1], 'status', 'acked', 'acked_by', ARGV[4], 'acked_at', ARGV[2])
  redis.call('ZREM', KEYS[2], redis.call('HGET', KEYS[1], 'id'))
  return {'acked', ARGV[4], ARGV[2]}
elseif op == 'resolve' then
  if status ~= 'open' then
    return 0
  end
  redis.call('HSET', KEYS[1], 'status', 'resolved', 'resolved_at', ARGV[2], 'resolved_why', ARGV[4])
  redis.call('ZREM', KEYS[2], redis.call('HGET', KEYS[1], 'id'))
  return 1
elseif op == 'advance' then
  if status ~= 'open' or redis.call('HGET', KEYS[1], 'step') ~= ARGV[4] then
    return 0
  end
  redis.call('HSET', KEYS[1], 'step', tostring(tonumber(ARGV[4]) + 1), 'notified_at', ARGV[2])
  if ARGV[6] ~= '' and redis.call('HEXISTS', KEYS[1], 'ts') == 0 then
    redis.call('HSET', KEYS[1], 'ts', ARGV[6], 'msg_channel', ARGV[5])
  end
  return 1
end
return redis.error_reply('unknown op ' .. op)
