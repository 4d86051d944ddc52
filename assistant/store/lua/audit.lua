-- audit: append one entry to a case's audit trail, optionally counting an attempt with it.
-- One hash slot ({case_id}). The plain API for decisions made outside the other scripts
-- (publish / escalation / card attempts): Store.audit. On-call's acks and pauses are audited by
-- page.lua and pause.lua in the ops stream of the pages' slot.
-- KEYS[1] case hash              coa:{cid}:case
-- KEYS[2] audit stream           coa:{cid}:audit
-- ARGV[1] retention (s)
-- ARGV[2] at (ms)
-- ARGV[3] actor: Slack user id or 'assistant'
-- ARGV[4] action
-- ARGV[5] details (JSON object)
-- ARGV[6] case hash field to increment with it ('' for none), e.g. publish_attempts
-- Returns 1 when written, 0 when the case does not exist (no entry without its case).
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
if ARGV[6] ~= '' then
  redis.call('HINCRBY', KEYS[1], ARGV[6], 1)
end
audit(KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4], cjson.decode(ARGV[5]))
return 1
