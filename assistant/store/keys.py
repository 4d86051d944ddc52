"""The Redis key schema: every key the assistant writes is named here, nowhere else.

Keys of one case share the hash tag ``{case_id}``. Every key gets a TTL (the retention),
refreshed when it is written, so the store does not grow without bound.
"""

from __future__ import annotations

PREFIX = "coa"

# Job kinds in the durable job queue (see jobs()).
JOB_POST_CARD = "card"  # post the case card
JOB_UPDATE_CARD = "cardupd"  # re-render the card from the stored state
JOB_PUBLISH = "publish"  # publish the approved reply (the outbox)
JOB_SLA = "sla"  # escalate when the SLA runs out


def mention(mention_key: str) -> str:
    """STRING case id, per ingested mention ("platform:id"): the ingest dedup."""
    return f"{PREFIX}:mention:{mention_key}"


def case(case_id: str) -> str:
    """HASH: the case (status, data JSON, card_ts, winner_ts, approved_text, attempts, …)."""
    return f"{PREFIX}:{{{case_id}}}:case"


def proposal(case_id: str, ts: str) -> str:
    """HASH: one proposal (user, text, status, version), by its Slack message ts."""
    return f"{PREFIX}:{{{case_id}}}:prop:{ts}"


def votes(case_id: str, ts: str) -> str:
    """HASH: votes on a proposal; field "user|kind|emoji", value "1" if a manager voted."""
    return f"{PREFIX}:{{{case_id}}}:votes:{ts}"


def message(channel: str, ts: str) -> str:
    """STRING case id for a Slack message of a case (its card or one of its proposals)."""
    return f"{PREFIX}:msg:{channel}:{ts}"


def event(event_id: str) -> str:
    """STRING marker: this Slack event id was applied (retries are no-ops)."""
    return f"{PREFIX}:evt:{event_id}"


def jobs() -> str:
    """ZSET of due jobs: member "kind:case_id", score = due time in ms (or lease expiry)."""
    return f"{PREFIX}:jobs"


def job_attempts() -> str:
    """HASH: member "kind:case_id" -> failed attempts so far (for backoff)."""
    return f"{PREFIX}:jobs:attempts"


def job_id(kind: str, case_id: str) -> str:
    return f"{kind}:{case_id}"


def parse_job_id(member: str) -> tuple[str, str]:
    kind, _, case_id = member.partition(":")
    return kind, case_id


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
