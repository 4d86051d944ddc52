-- lease: take, renew or release a named lease held by one owner (e.g. the Mastodon poller).
-- KEYS[1] lease key              coa:lease:<name>
-- ARGV[1] owner token
-- ARGV[2] op: acquire | release
-- ARGV[3] lease (ms), for acquire
-- Returns 1 when the caller holds (acquire) or released (release) the lease, else 0.
local owner = redis.call('GET', KEYS[1])
if ARGV[2] == 'release' then
  if owner == ARGV[1] then
    redis.call('DEL', KEYS[1])
    return 1
  end
  return 0
end
if (not owner) or owner == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', tonumber(ARGV[3]))
  return 1
end
return 0
