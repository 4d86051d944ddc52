"""pydantic models for what crosses a boundary: ingested mentions and stored records."""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, HttpUrl

Platform = Literal["mastodon", "bluesky", "x", "webhook"]


def _utf8(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("not valid Unicode (a lone surrogate)") from None
    return value


Str = Annotated[str, AfterValidator(_utf8)]
"""A string from outside that Redis (and every Slack surface) can take: no lone surrogate."""


class Author(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: Str = Field(min_length=1, max_length=256)
    handle: Str = Field(min_length=1, max_length=320)
    """The network's handle, e.g. the Mastodon acct `colere@mastodon.social` (no leading @)."""
    display_name: Str = Field("", max_length=512)
    followers: int = Field(0, ge=0, le=10**12)


MENTION_TEXT_MAX = 20_000
"""The longest mention text kept (X Premium posts reach 25,000 characters: a poller cuts
longer ones to this rather than lose the mention)."""


class Mention(BaseModel):
    """One mention of the brand, as ingested (webhook body or poller)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    platform: Platform
    id: Str = Field(min_length=1, max_length=256)
    url: HttpUrl
    text: Str = Field(min_length=1, max_length=MENTION_TEXT_MAX)
    author: Author
    created_at: datetime
    lang: Str | None = Field(None, max_length=16)

    @property
    def key(self) -> str:
        """Identity of the mention across ingest paths: platform + network id."""
        return f"{self.platform}:{self.id}"

    @property
    def case_id(self) -> str:
        """Deterministic case id, so the same mention always maps to the same case."""
        return hashlib.sha256(self.key.encode()).hexdigest()[:16]


class CaseStatus(StrEnum):
    OPEN = "open"  # accepting proposals and votes
    APPROVED = "approved"  # a proposal won; publish pending (in the outbox)
    PUBLISHED = "published"  # the reply is on the network
    FAILED = "failed"  # publishing failed permanently
    GROUPED = "grouped"  # under a surge card, no card of its own (until promoted)


class CaseScore(BaseModel):
    """What the scorer said about the mention, as shown on the card."""

    model_config = ConfigDict(frozen=True)

    score: float = Field(ge=0.0, le=1.0)
    severity: str = "none"
    categories: dict[str, float] = Field(default_factory=dict)
    evidence: list[str] = Field(default_factory=list)
    """Short human-readable reasons, e.g. ``insult: « connards »``."""
    target: str | None = None
    """At whom the hostility is aimed: ``addressee`` (the brand or its staff), ``group``,
    ``other``; ``None`` for cases stored before the scorer said."""
    second_opinion: str | None = None
    """What the optional moderation service said, e.g. ``second opinion: flagged (hate 0.91)``."""


class Suggestion(BaseModel):
    """A past reply suggested on a card: the mention it answered and why it is similar."""

    model_config = ConfigDict(frozen=True)

    entry: str
    """The remembered entry: the id of the case whose reply it was."""
    lang: str
    mention: str
    reply: str
    similarity: float = Field(ge=0.0, le=1.0)
    shared: list[str] = Field(default_factory=list)
    """The shared words (as written in the new mention), weightiest first."""


class Case(BaseModel):
    """A case as stored in Redis and rendered on its Slack card."""

    case_id: str
    mention: Mention
    assessment: CaseScore
    channel: str
    status: CaseStatus = CaseStatus.OPEN
    opened_at: float
    """Unix time the case was opened."""
    sla_deadline: float
    card_ts: str | None = None
    proposals: int = 0
    """Active (not withdrawn) proposals in the thread."""
    flagged_proposals: int = 0
    """Active proposals the tone check found hostile (each needs more manager approvals)."""
    winner_ts: str | None = None
    approved_text: str | None = None
    published_url: str | None = None
    published_at: float | None = None
    escalated_at: float | None = None
    failure: str | None = None
    publish_attempts: int = 0
    """Publish calls started (recorded before each network call): >0 means an earlier
    attempt's outcome may be unknown, so the network is checked before posting again."""
    publish_ref: str | None = None
    """Chosen once before the first publish attempt and used by all (Bluesky's record key)."""
    escalation_attempts: int = 0
    """On-call messages started, likewise (the thread is checked before posting again)."""
    card_attempts: int = 0
    """Card posts started, likewise (the channel is checked for the card's metadata first)."""
    suggestions: list[Suggestion] | None = None
    """Past replies to similar mentions (reply memory), looked up once before the card is
    posted; None until then."""
