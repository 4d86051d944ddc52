-- open_case: open a case for a mention, unless that mention already has one; its audit entry
-- (case_opened, with the score and evidence) is written in the same step.
-- The case id is derived from the mention's key, so the case hash itself is the ingest dedup.
-- On a Redis Cluster the store passes KEYS[1..2] only (one hash slot, {case_id}) and writes the
-- index entries before and the case's jobs after, as separate idempotent steps. On one node it
-- passes KEYS[3..5] too and this script writes them in the same call (slots do not matter
-- there): one round trip per new case, as the hot ingest path deserves.
-- KEYS[1] case hash              coa:{cid}:case
-- KEYS[2] audit stream           coa:{cid}:audit
-- KEYS[3] (one node) open-case index     coa:{open.N}:cases
-- KEYS[4] (one node) the case's job shard coa:{jobs.N}:due
-- KEYS[5] (one node) opened-cases index  coa:{opened.N}:cases (audit exports, reports)
-- KEYS[6] (one node, optional) the day's mention counts coa:mentions:<day> (reports): fields
--         seen and hostile +1 when the case is stored, in the same step (on a cluster the
--         store counts it right after: another slot)
-- ARGV[1] case data (JSON: mention, assessment, channel, deadlines)
-- ARGV[2] escalation due (ms): the SLA deadline, or now for a threat
-- ARGV[3] retention (s)
-- ARGV[4] opened at (ms): the index score and the card job's due time
-- ARGV[5] post-card job member   card:<cid>
-- ARGV[6] SLA job member         sla:<cid>
-- ARGV[7] case id (the index member)
-- ARGV[8] audit details (JSON: platform, severity, score, categories, evidence, url, author)
-- ARGV[9] 'grouped' for a mention grouped under a surge card: the case is stored with that
--         status (audit: case_grouped), without index entries or jobs, whatever the node
--         count (the Promote button opens it: promote_case.lua)
-- Returns 1 when opened, 0 when the mention was already seen.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
local ttl = tonumber(ARGV[3])
local grouped = ARGV[9] == 'grouped'
redis.call('HSET', KEYS[1], 'status', grouped and 'grouped' or 'open', 'data', ARGV[1],
  'proposals', 0, 'escalate_at', ARGV[2])
redis.call('EXPIRE', KEYS[1], ttl)
audit(KEYS[2], ttl, ARGV[4], 'assistant', grouped and 'case_grouped' or 'case_opened',
  cjson.decode(ARGV[8]))
if KEYS[4] and not grouped then
  redis.call('ZADD', KEYS[3], 'NX', ARGV[4], ARGV[7])
  redis.call('EXPIRE', KEYS[3], ttl)
  redis.call('ZADD', KEYS[4], 'NX', ARGV[4], ARGV[5])
  redis.call('ZADD', KEYS[4], 'NX', ARGV[2], ARGV[6])
  redis.call('EXPIRE', KEYS[4], ttl)
  redis.call('ZADD', KEYS[5], ARGV[4], ARGV[7])
  redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', tonumber(ARGV[4]) - ttl * 1000)
  redis.call('EXPIRE', KEYS[5], ttl)
end
if KEYS[6] then
  count_hostile(KEYS[6], ttl)
end
return 1
