"""The Redis key schema: every key the assistant writes is named here, nowhere else.

Redis Cluster safe: every Lua script touches keys of one hash slot only, all passed in KEYS.
- Keys of one case share the hash tag ``{case_id}``, and so do the markers of the Slack events
  applied to that case (a script dedups the event and changes the case in one slot).
- Global structures are sharded under hash tags of their own, ``{jobs.N}``, ``{open.N}`` and
  ``{opened.N}``
  with N < SHARDS, so that no single slot is a hot spot; a job or a case always maps to the
  same shard (CRC-32 of its id).
- Lookups that cannot know the case (Slack message ts -> case) are plain keys in their own
  slot, written before the case script that needs them (a retry finds them there).
Every key gets a TTL (the retention), refreshed when it is written, so the store does not grow
without bound.
"""

from __future__ import annotations

import zlib

PREFIX = "coa"
SHARDS = 8  # shards of the job queue and of the open-case index (a constant: changing it
# re-homes pending jobs, so a deployment keeps it)

# Job kinds of the durable job queue (a job is a kind, an id and a small payload).
JOB_POST_CARD = "card"  # post the case card (id: case id)
JOB_UPDATE_CARD = "cardupd"  # re-render the card from the stored state (id: case id)
JOB_PUBLISH = "publish"  # publish the approved reply: the outbox (id: case id)
JOB_SLA = "sla"  # escalate when the SLA runs out (id: case id)
JOB_SETTLED = "settled"  # a publish outcome's follow-ups: thread note, on-call (id: case id)
JOB_SWEEP = "sweep"  # re-queue what open cases miss after a crash (id: open-index shard)
JOB_DIGEST = "digest"  # post the weekly digest (id: the ISO week, e.g. 2026-W48)
JOB_SURGE_CARD = "surgecard"  # post or refresh a channel's live surge card (id: channel)
JOB_SURGE_PAGE = "surgepage"  # page on-call once for a surge (id: channel|surge id)
JOB_SURGE_END = "surgeend"  # end the surge after its quiet period, with a summary (id: channel)
JOB_DRAFTS = "drafts"  # ask the LLM for drafts, post them as proposals (id: case id)
JOB_PROPOSE_PAST = "pastprop"  # post a remembered reply as a proposal (id: case id.entry)
JOB_PAGE = "page"  # notify the next step of an on-call page's policy (id: page id)
JOB_PAGE_UPDATE = "pageupd"  # re-render a page's message (acked, resolved) (id: page id)
JOB_HOME = "home"  # refresh the App Home of recent viewers, coalesced (id: "all")
CASE_JOBS = frozenset(
    {JOB_POST_CARD, JOB_UPDATE_CARD, JOB_PUBLISH, JOB_SLA, JOB_DRAFTS, JOB_SETTLED}
)


def shard_of(ident: str) -> int:
    return zlib.crc32(ident.encode()) % SHARDS


# -- one case: hash tag {case_id} ------------------------------------------------------------


def case(case_id: str) -> str:
    """HASH: the case (status, data JSON, escalate_at, card_ts, winner_ts, approved_text, …).

    Its existence is also the ingest dedup: the case id is derived from the mention's key."""
    return f"{PREFIX}:{{{case_id}}}:case"


def proposal(case_id: str, ts: str) -> str:
    """HASH: one proposal (user, text, status, version), by its Slack message ts."""
    return f"{PREFIX}:{{{case_id}}}:prop:{ts}"


def votes(case_id: str, ts: str) -> str:
    """HASH: votes on a proposal; field "user|kind|emoji", value "1" if a manager voted."""
    return f"{PREFIX}:{{{case_id}}}:votes:{ts}"


def audit(case_id: str) -> str:
    """STREAM: the case's audit trail, one entry per decision (fields at, actor, action,
    details JSON). In the case's slot so each Lua step writes its entry atomically with the
    decision it records (lua/_audit.lua); capped (MAXLEN ~10000) and retained like the case."""
    return f"{PREFIX}:{{{case_id}}}:audit"


def event(case_id: str, event_id: str) -> str:
    """STRING marker: this Slack event id was applied to this case (retries are no-ops)."""
    return f"{PREFIX}:{{{case_id}}}:evt:{event_id}"


# -- lookups in their own slot ---------------------------------------------------------------


def message(channel: str, ts: str) -> str:
    """STRING case id for a Slack message of a case (its card or one of its proposals)."""
    return f"{PREFIX}:msg:{channel}:{ts}"


# -- sharded global structures: hash tags {jobs.N}, {open.N} --------------------------------


def job_id(kind: str, ident: str) -> str:
    """A job's member in its shard: "kind:id" (kinds have no colon; ids may)."""
    return f"{kind}:{ident}"


def parse_job_id(member: str) -> tuple[str, str]:
    kind, _, ident = member.partition(":")
    return kind, ident


def job_shard(ident: str) -> int:
    """The queue shard of a job: by its id, so the jobs of one case share a shard."""
    return shard_of(ident)


def jobs_due(shard: int) -> str:
    """ZSET of a queue shard: member "kind:id", score = due time in ms (or lease expiry)."""
    return f"{PREFIX}:{{jobs.{shard}}}:due"


def jobs_payload(shard: int) -> str:
    """HASH of a queue shard: member "kind:id" -> payload (small JSON), when it has one."""
    return f"{PREFIX}:{{jobs.{shard}}}:payload"


def jobs_attempts(shard: int) -> str:
    """HASH of a queue shard: member "kind:id" -> failed attempts so far (for backoff)."""
    return f"{PREFIX}:{{jobs.{shard}}}:attempts"


def open_cases(shard: int) -> str:
    """ZSET: ids of the cases not yet settled (published or failed), score = opened at (ms).

    Serves App Home, slash commands and reports without SCAN, and the sweep that re-queues
    what a crash between two steps left out (see jobs.Sweeper)."""
    return f"{PREFIX}:{{open.{shard}}}:cases"


def opened_cases(shard: int) -> str:
    """ZSET: every case (settled or not) by the time it opened (ms), trimmed to the retention.

    How exports and reports find the audit streams of a period without SCAN: a period is the
    cases opened in it (a cohort: a case opened on Monday and published on Tuesday is Monday's),
    read from the SHARDS indexes by score, then each case's stream (keys.audit)."""
    return f"{PREFIX}:{{opened.{shard}}}:cases"


def mention_counts(day: str) -> str:
    """HASH: mentions scored on a UTC day (``YYYY-MM-DD``): fields seen, hostile (reports)."""
    return f"{PREFIX}:mentions:{day}"


def marker(name: str) -> str:
    """STRING: a one-off that happened (e.g. ``digest:2026-W48``, the week's digest posted)."""
    return f"{PREFIX}:marker:{name}"


def legacy_jobs() -> str:
    """The single job ZSET of versions before the sharded queue (migrated at start)."""
    return f"{PREFIX}:jobs"


# -- caches, cursors, leases (single keys) ---------------------------------------------------


def user(user_id: str) -> str:
    """HASH cache of users.info: is_bot, name."""
    return f"{PREFIX}:user:{user_id}"


def usergroup(group_id: str) -> str:
    """STRING (JSON list) cache of usergroups.users.list."""
    return f"{PREFIX}:usergroup:{group_id}"


def cursor(source: str) -> str:
    """STRING: a poller's cursor (e.g. Mastodon's since_id)."""
    return f"{PREFIX}:cursor:{source}"


def lease(name: str) -> str:
    """STRING owner token with a PX expiry: who may run a singleton (e.g. a poller)."""
    return f"{PREFIX}:lease:{name}"


def token(name: str) -> str:
    """STRING (JSON): a network account's tokens or session (e.g. ``bluesky:brand.bsky.social``).
    Never logged; renewed under the lease ``token:<name>`` by one replica at a time."""
    return f"{PREFIX}:token:{name}"


def reads(name: str, month: str) -> str:
    """STRING counter: posts read from a network account in a month (``YYYY-MM``), for budgets."""
    return f"{PREFIX}:reads:{name}:{month}"


# -- Slack's per-channel post rate: hash tag {rate.<channel>} --------------------------------


def rate(channel: str) -> str:
    """HASH token bucket of a Slack channel shared by every replica (tokens, at, until, hold):
    every chat.postMessage / chat.update to the channel takes a token (rate_limit.lua)."""
    return f"{PREFIX}:{{rate.{channel}}}:bucket"


# -- the live surge of a channel: hash tag {surge.<channel>} ---------------------------------


def surge_rate(channel: str) -> str:
    """HASH: hostile mentions per 10-second bucket (bucket number -> count), for detection."""
    return f"{PREFIX}:{{surge.{channel}}}:rate"


def surge(channel: str) -> str:
    """HASH: the channel's live surge (id, started, last, count, carded, grouped, card_ts,
    net:<platform>, cat:<category> counts, the per-minute card cap)."""
    return f"{PREFIX}:{{surge.{channel}}}:state"


def surge_authors(channel: str) -> str:
    """ZSET: the surge's most-followed authors (handle -> followers), top few kept."""
    return f"{PREFIX}:{{surge.{channel}}}:authors"


def surge_samples(channel: str) -> str:
    """LIST: a few recent texts of the surge (raw, cut; escaped when rendered)."""
    return f"{PREFIX}:{{surge.{channel}}}:samples"


def surge_grouped(channel: str) -> str:
    """ZSET: the surge's grouped mentions (case id -> priority), the promotable ones."""
    return f"{PREFIX}:{{surge.{channel}}}:grouped"


def surge_keys(channel: str) -> list[str]:
    """The keys of a channel's surge, in the order the surge scripts take them."""
    return [
        surge_rate(channel),
        surge(channel),
        surge_authors(channel),
        surge_samples(channel),
        surge_grouped(channel),
    ]


# -- reply memory: one hash tag per language, {mem.<lang>} ----------------------------------
# A lookup reads one language's postings in one round trip, so a language's keys share a slot
# (Cluster spreads the languages). Every key has the retention TTL, refreshed when written.


def memory_entries(lang: str) -> str:
    """ZSET: remembered replies of a language (member: case id, score: remembered at, ms)."""
    return f"{PREFIX}:{{mem.{lang}}}:entries"


def memory_entry(lang: str, case_id: str) -> str:
    """HASH: one remembered reply (mention, reply, terms, norm, platform, url, at)."""
    return f"{PREFIX}:{{mem.{lang}}}:entry:{case_id}"


def memory_norms(lang: str) -> str:
    """HASH: each remembered entry's vector norm (case id -> float), read for every candidate."""
    return f"{PREFIX}:{{mem.{lang}}}:norms"


def memory_term(lang: str, term: str) -> str:
    """ZSET postings of a term: the most recent entries (case ids) that contain it."""
    return f"{PREFIX}:{{mem.{lang}}}:term:{term}"


def memory_claim(case_id: str, what: str) -> str:
    """STRING marker in the case's slot: a suggestion proposed or a draft posted (once)."""
    return f"{PREFIX}:{{{case_id}}}:once:{what}"


# -- on-call pages, the pause, the ops audit: hash tag {pages} (rare: one slot is no hot spot)


def page(page_id: str) -> str:
    """HASH: an on-call page (status open/acked/resolved, text, channel, thread_ts, case_id,
    critical, step, ts, msg_channel, acked_by, acked_at, …)."""
    return f"{PREFIX}:{{pages}}:page:{page_id}"


def open_pages() -> str:
    """ZSET: ids of the pages not acknowledged nor resolved, score = created at (ms)."""
    return f"{PREFIX}:{{pages}}:open"


def case_pages(case_id: str) -> str:
    """SET: ids of the pages about a case (resolved when the case is settled)."""
    return f"{PREFIX}:{{pages}}:case:{case_id}"


def paused() -> str:
    """STRING: Unix ms until which publishing and polling are paused (``/ops pause``), PX. In
    the pages' slot so the pause and its audit entry are one step (lua/pause.lua)."""
    return f"{PREFIX}:{{pages}}:paused"


def legacy_paused() -> str:
    """The pause key of versions before the ops audit (outside the pages' slot; moved at start)."""
    return f"{PREFIX}:paused"


def ops_audit(day: str) -> str:
    """STREAM: the ops audit trail of a UTC day (``YYYY-MM-DD``): pages opened, sent, acked and
    resolved, pauses and resumes (fields at, actor, action, case — the case a page is about,
    or empty —, details JSON). In the pages' slot so page.lua and pause.lua write each entry
    atomically with the change it records; capped (MAXLEN ~10000) and retained like the rest
    (the TTL is refreshed at each write). ``assistant audit CASE`` merges a case's entries with
    its own stream (keys.audit); exports read the days of the period."""
    return f"{PREFIX}:{{pages}}:audit:{day}"


def home_viewers() -> str:
    """ZSET: users who opened the App Home, score = last opened (ms); refreshed on changes."""
    return f"{PREFIX}:home:viewers"


def trouble(dependency: str) -> str:
    """STRING: Unix ms since when a dependency (``slack``, a network) keeps failing."""
    return f"{PREFIX}:trouble:{dependency}"
