-- surge_mark: record fields of a channel's surge (its card's ts, that on-call was paged, …)
-- only if the surge is still the one the caller is about (a new surge replaces the state).
-- One hash slot ({surge.<channel>}).
-- KEYS[1] surge state hash       coa:{surge.C}:state
-- ARGV[1] surge id
-- ARGV[2..] field, value, field, value, …  (a value of '+1' increments the field)
-- Returns 1 when recorded, 0 when the surge is not (or no longer) that one.
if redis.call('HGET', KEYS[1], 'id') ~= ARGV[1] then
  return 0
end
for i = 2, #ARGV, 2 do
  if ARGV[i + 1] == '+1' then
    redis.call('HINCRBY', KEYS[1], ARGV[i], 1)
  else
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
return 1
