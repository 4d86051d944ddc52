-- open_case: open a case for a mention, unless that mention already has one.
-- One hash slot ({case_id}). The case id is derived from the mention's key, so the case hash
-- itself is the ingest dedup. Its jobs (card, escalation) and its entry in the open-case index
-- are queued by the store before this script, idempotently (see Store.open_case).
-- KEYS[1] case hash              coa:{cid}:case
-- ARGV[1] case data (JSON: mention, assessment, channel, deadlines)
-- ARGV[2] escalation due (ms): the SLA deadline, or now for a threat
-- ARGV[3] retention (s)
-- Returns 1 when opened, 0 when the mention was already seen.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'status', 'open', 'data', ARGV[1], 'proposals', 0,
  'escalate_at', ARGV[2])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
