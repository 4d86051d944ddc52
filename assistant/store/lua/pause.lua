-- pause: ``/ops pause`` and ``/ops resume``, each with its entry in the ops audit stream of the
-- day (the audit() fragment of _audit.lua), written first (see page.lua). One hash slot
-- ({pages}).
-- KEYS[1] the pause          coa:{pages}:paused (Unix ms until which it lasts, PX)
-- KEYS[2] ops audit stream   coa:{pages}:audit:<UTC day of now>
-- ARGV[1] op: pause | resume
-- ARGV[2] now (ms)
-- ARGV[3] retention (s)
-- ARGV[4] user (Slack id)
-- pause:  ARGV[5] until (ms, > now) → 1 (audited 'paused', with the pause it replaced if any)
-- resume: → 1 resumed (audited 'resumed'), 0 not paused (nothing written)
local now = tonumber(ARGV[2])
local current = tonumber(redis.call('GET', KEYS[1]) or '')
if current and current <= now then
  current = nil -- expired, not yet evicted
end
if ARGV[1] == 'pause' then
  local till = tonumber(ARGV[5])
  local details = {['until'] = till, minutes = math.floor((till - now) / 60000 + 0.5)}
  if current then
    details['replaced_until'] = current
  end
  audit(KEYS[2], ARGV[3], ARGV[2], ARGV[4], 'paused', details, '')
  redis.call('SET', KEYS[1], ARGV[5], 'PX', math.max(1, till - now))
  return 1
elseif ARGV[1] == 'resume' then
  if not current then
    redis.call('DEL', KEYS[1]) -- an expired one not yet evicted: nothing to record
    return 0
  end
  audit(KEYS[2], ARGV[3], ARGV[2], ARGV[4], 'resumed', {was_until = current}, '')
  redis.call('DEL', KEYS[1])
  return 1
end
return redis.error_reply('unknown op ' .. ARGV[1])
