-- _audit: the audit fragment, prepended by the store to every script (Lua has no include).
-- audit(stream, ttl, at, actor, action, details) appends one entry to a case's audit stream
-- (coa:{cid}:audit, in the case's hash slot) inside the same atomic step as the decision it
-- records: no decision without its entry, no entry without its decision. Other scripts
-- (acknowledgements, pauses, …) call it the same way; see Store.audit for the plain API.
--   stream   KEYS entry of the case's audit stream
--   ttl      retention (s), refreshed at each write like every other key
--   at       time of the decision (ms, the app's clock)
--   actor    Slack user id, or 'assistant'
--   action   e.g. case_opened, proposal_added, vote_counted, approved, published
--   details  a Lua table, stored as JSON
local function audit(stream, ttl, at, actor, action, details)
  redis.call('XADD', stream, 'MAXLEN', '~', 10000, '*', 'at', tostring(at), 'actor', actor,
    'action', action, 'details', cjson.encode(details))
  redis.call('EXPIRE', stream, tonumber(ttl))
end
