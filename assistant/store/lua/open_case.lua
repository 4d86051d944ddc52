-- open_case: open a case for a mention, unless that mention already has one.
-- The case id is derived from the mention's key, so the case hash itself is the ingest dedup.
-- On a Redis Cluster the store passes KEYS[1] only (one hash slot, {case_id}) and writes the
-- open-case index entry before and the case's jobs after, as separate idempotent steps. On one
-- node it passes KEYS[2..3] too and this script writes them in the same call (slots do not
-- matter there): one round trip per new case, as the hot ingest path deserves.
-- KEYS[1] case hash              coa:{cid}:case
-- KEYS[2] (one node) open-case index     coa:{open.N}:cases
-- KEYS[3] (one node) the case's job shard coa:{jobs.N}:due
-- ARGV[1] case data (JSON: mention, assessment, channel, deadlines)
-- ARGV[2] escalation due (ms): the SLA deadline, or now for a threat
-- ARGV[3] retention (s)
-- ARGV[4] opened at (ms): the index score and the card job's due time
-- ARGV[5] post-card job member   card:<cid>
-- ARGV[6] SLA job member         sla:<cid>
-- ARGV[7] case id (the index member)
-- ARGV[8] 'grouped' for a mention grouped under a surge card: the case is stored with that
--         status, without index entry or jobs (the Promote button opens it: promote_case.lua)
-- Returns 1 when opened, 0 when the mention was already seen.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
local ttl = tonumber(ARGV[3])
local grouped = ARGV[8] == 'grouped'
redis.call('HSET', KEYS[1], 'status', grouped and 'grouped' or 'open', 'data', ARGV[1],
  'proposals', 0, 'escalate_at', ARGV[2])
redis.call('EXPIRE', KEYS[1], ttl)
if KEYS[3] and not grouped then
  redis.call('ZADD', KEYS[2], 'NX', ARGV[4], ARGV[7])
  redis.call('EXPIRE', KEYS[2], ttl)
  redis.call('ZADD', KEYS[3], 'NX', ARGV[4], ARGV[5])
  redis.call('ZADD', KEYS[3], 'NX', ARGV[2], ARGV[6])
  redis.call('EXPIRE', KEYS[3], ttl)
end
return 1
