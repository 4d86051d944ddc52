-- page: the atomic steps of an on-call page, each with its entry in the ops audit stream of
-- the day (the audit() fragment of _audit.lua: no step without its entry, no entry without
-- its step). One hash slot ({pages}). The entry is each step's first write: a write refused
-- (e.g. Redis out of memory) then refuses the whole step, never half of it.
-- KEYS[1] page hash          coa:{pages}:page:<id>
-- KEYS[2] open-page index    coa:{pages}:open
-- KEYS[3] the case's pages   coa:{pages}:case:<case_id> (open only; any {pages} key otherwise)
-- KEYS[4] ops audit stream   coa:{pages}:audit:<UTC day of now>
-- ARGV[1] op: open | ack | resolve | advance
-- ARGV[2] now (ms)
-- ARGV[3] retention (s)
-- open:    ARGV[4] page id, ARGV[5] JSON object of the record's fields (case_id: resolved
--          when the case settles; about: the case the page concerns, for the audit),
--          ARGV[6] JSON details of the audit entry → 1 new (audited 'paged'), 0 existed
-- ack:     ARGV[4] user → {outcome, acked_by, acked_at}; outcome acked | already | resolved
--          | unknown (only an open page takes an ack, audited 'acknowledged')
-- resolve: ARGV[4] why → 1 resolved (audited 'page_resolved'), 0 not open
-- advance: ARGV[4] the step notified, ARGV[5] channel of the message, ARGV[6] its ts (the
--          first step's message is the page's; '' when nobody could be told) → 1 advanced
--          (audited 'page_sent'), 0 already (or not open)
local op = ARGV[1]
local ttl = tonumber(ARGV[3])
local now = ARGV[2]
if op == 'open' then
  if redis.call('EXISTS', KEYS[1]) == 1 then
    return 0
  end
  local fields = cjson.decode(ARGV[5])
  audit(KEYS[4], ttl, now, 'assistant', 'paged', cjson.decode(ARGV[6]), fields['about'] or '')
  local flat = {}
  for k, v in pairs(fields) do
    flat[#flat + 1] = k
    flat[#flat + 1] = tostring(v)
  end
  redis.call('HSET', KEYS[1], 'status', 'open', 'step', '0', 'created_at', now, unpack(flat))
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('ZADD', KEYS[2], now, ARGV[4])
  redis.call('EXPIRE', KEYS[2], ttl)
  if fields['case_id'] and fields['case_id'] ~= '' then
    redis.call('SADD', KEYS[3], ARGV[4])
    redis.call('EXPIRE', KEYS[3], ttl)
  end
  return 1
end
local status = redis.call('HGET', KEYS[1], 'status')
local function about()
  return redis.call('HGET', KEYS[1], 'about') or redis.call('HGET', KEYS[1], 'case_id') or ''
end
local page_id = redis.call('HGET', KEYS[1], 'id')
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
  local created = tonumber(redis.call('HGET', KEYS[1], 'created_at') or now)
  audit(KEYS[4], ttl, now, ARGV[4], 'acknowledged', {page = page_id,
    after_ms = tonumber(now) - created,
    notifications = tonumber(redis.call('HGET', KEYS[1], 'step') or '0')}, about())
  redis.call('HSET', KEYS[1], 'status', 'acked', 'acked_by', ARGV[4], 'acked_at', now)
  redis.call('ZREM', KEYS[2], page_id)
  return {'acked', ARGV[4], now}
elseif op == 'resolve' then
  if status ~= 'open' then
    return 0
  end
  audit(KEYS[4], ttl, now, 'assistant', 'page_resolved', {page = page_id, why = ARGV[4]}, about())
  redis.call('HSET', KEYS[1], 'status', 'resolved', 'resolved_at', now, 'resolved_why', ARGV[4])
  redis.call('ZREM', KEYS[2], page_id)
  return 1
elseif op == 'advance' then
  if status ~= 'open' or redis.call('HGET', KEYS[1], 'step') ~= ARGV[4] then
    return 0
  end
  audit(KEYS[4], ttl, now, 'assistant', 'page_sent', {page = page_id,
    notification = tonumber(ARGV[4]) + 1, delivered = ARGV[6] ~= ''}, about())
  redis.call('HSET', KEYS[1], 'step', tostring(tonumber(ARGV[4]) + 1), 'notified_at', now)
  if ARGV[6] ~= '' and redis.call('HEXISTS', KEYS[1], 'ts') == 0 then
    redis.call('HSET', KEYS[1], 'ts', ARGV[6], 'msg_channel', ARGV[5])
  end
  return 1
end
return redis.error_reply('unknown op ' .. op)
