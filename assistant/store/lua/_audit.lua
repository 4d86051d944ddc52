-- _audit: the audit fragment, prepended by the store to every script (Lua has no include).
-- audit(stream, ttl, at, actor, action, details[, case]) appends one entry to an audit stream
-- inside the same atomic step as the decision it records: no decision without its entry, no
-- entry without its decision. A case's decisions go to its own stream (coa:{cid}:audit, in the
-- case's slot); on-call's (pages opened, sent, acknowledged, resolved; pauses and resumes) to
-- the ops stream of the day (coa:{pages}:audit:<day>, in the pages' slot: page.lua,
-- pause.lua), with the case a page is about in ``case``. See Store.audit for the plain API.
--   stream   KEYS entry of the audit stream
--   ttl      retention (s), refreshed at each write like every other key
--   at       time of the decision (ms, the app's clock)
--   actor    Slack user id, or 'assistant'
--   action   e.g. case_opened, proposal_added, vote_counted, approved, published, acknowledged
--   details  a Lua table, stored as JSON
--   case     (ops stream only) the case id, '' for none
local function audit(stream, ttl, at, actor, action, details, case)
  if case then
    redis.call('XADD', stream, 'MAXLEN', '~', 10000, '*', 'at', tostring(at), 'actor', actor,
      'action', action, 'case', case, 'details', cjson.encode(details))
  else
    redis.call('XADD', stream, 'MAXLEN', '~', 10000, '*', 'at', tostring(at), 'actor', actor,
      'action', action, 'details', cjson.encode(details))
  end
  redis.call('EXPIRE', stream, tonumber(ttl))
end
