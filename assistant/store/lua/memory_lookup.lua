-- memory_lookup: the remembered entries most like a query, by exact idf-weighted cosine.
-- One hash slot ({mem.<lang>}). Bounded work whatever the memory's size: at most ARGV[2]
-- postings per distinctive term, ARGV[3] candidates, one ZSCORE per candidate and common term.
-- KEYS[1]         norms hash                          coa:{mem.<lang>}:norms
-- KEYS[2..1+R]    postings of the distinctive terms   coa:{mem.<lang>}:term:<t> (R = ARGV[1])
-- KEYS[2+R..]     postings of the common terms (they add to candidates, bring none)
-- ARGV[1] R: how many distinctive terms
-- ARGV[2] postings read per distinctive term (the most recent)
-- ARGV[3] candidates scored exactly (those sharing the most distinctive weight)
-- ARGV[4] the query's norm
-- ARGV[5] minimum similarity
-- ARGV[6] how many to return
-- ARGV[7] an entry to leave out ('' for none)
-- ARGV[8..] the squared weight of each term, in KEYS order (KEYS[2] first)
-- Returns a flat list: entry, similarity, entry, similarity … best first.
local r = tonumber(ARGV[1])
local per = tonumber(ARGV[2])
local cap = tonumber(ARGV[3])
local qnorm = tonumber(ARGV[4])
local minsim = tonumber(ARGV[5])
local limit = tonumber(ARGV[6])
local exclude = ARGV[7]
local dots = {}
local members = {}
for i = 1, r do
  local w2 = tonumber(ARGV[7 + i])
  for _, m in ipairs(redis.call('ZREVRANGE', KEYS[1 + i], 0, per - 1)) do
    if dots[m] then
      dots[m] = dots[m] + w2
    elseif m ~= exclude then
      dots[m] = w2
      members[#members + 1] = m
    end
  end
end
-- the candidates: the `cap` members with the most distinctive weight (ties: most recent first)
local n = #members
local threshold = -1
if n > cap then
  local values = {}
  for j = 1, n do values[j] = dots[members[j]] end
  table.sort(values)  -- numbers only: C comparisons
  threshold = values[n - cap + 1]
end
local scored = {}
local taken = 0
for j = 1, n do
  local m = members[j]
  local dot = dots[m]
  if dot >= threshold and taken < cap then
    taken = taken + 1
    for i = r + 1, #KEYS - 1 do
      if redis.call('ZSCORE', KEYS[1 + i], m) then
        dot = dot + tonumber(ARGV[7 + i])
      end
    end
    local norm = tonumber(redis.call('HGET', KEYS[1], m) or '0') or 0
    if norm > 0 then
      local sim = dot / (qnorm * norm)
      if sim >= minsim then
        scored[#scored + 1] = {m, sim}
      end
    end
  end
end
-- the best `limit`, best first (a few passes: limit is small)
local out = {}
for _ = 1, math.min(#scored, limit) do
  local best = nil
  for j = 1, #scored do
    if scored[j] and (best == nil or scored[j][2] > scored[best][2]) then best = j end
  end
  out[#out + 1] = scored[best][1]
  out[#out + 1] = string.format('%.6f', scored[best][2])
  scored[best] = false
end
return out
