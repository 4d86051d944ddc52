-- _count: the mention-count fragment, prepended by the store to every script (after
-- _audit.lua). count_hostile(key, ttl) counts one stored hostile mention in a day's counts
-- hash (coa:mentions:<day>, fields seen and hostile: reports), in the step that stores it,
-- so a retried webhook or the poller seeing the mention again never counts it twice. Only on
-- one node (the key has its own slot); on a cluster the store counts right after the step.
--   key  KEYS entry of the day's counts hash
--   ttl  retention (s)
local function count_hostile(key, ttl)
  redis.call('HINCRBY', key, 'seen', 1)
  redis.call('HINCRBY', key, 'hostile', 1)
  redis.call('EXPIRE', key, tonumber(ttl))
end
