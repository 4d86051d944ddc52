-- open_case: open a case for a mention, unless that mention already has one.
-- KEYS[1] mention dedup key      coa:mention:<platform:id>
-- KEYS[2] case hash              coa:{cid}:case
-- KEYS[3] jobs zset              coa:jobs
-- ARGV[1] case id
-- ARGV[2] case data (JSON: mention, assessment, channel, deadlines)
-- ARGV[3] now (ms)
-- ARGV[4] escalation due (ms): the SLA deadline, or now for a threat
-- ARGV[5] retention (s)
-- ARGV[6] post-card job member   card:<cid>
-- ARGV[7] SLA job member         sla:<cid>
-- Returns {1, cid} when opened, {0, existing cid} when the mention was already seen.
local existing = redis.call('GET', KEYS[1])
if existing then
  return {0, existing}
end
local ttl = tonumber(ARGV[5])
redis.call('SET', KEYS[1], ARGV[1], 'EX', ttl)
redis.call('HSET', KEYS[2], 'status', 'open', 'data', ARGV[2], 'proposals', 0)
redis.call('EXPIRE', KEYS[2], ttl)
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[6])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[7])
redis.call('EXPIRE', KEYS[3], ttl)
return {1, ARGV[1]}
