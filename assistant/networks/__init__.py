"""The network registry: one module per network behind one seam (see ``base.py``).

``rule_for(platform)`` gives a network's length rule (pure, no credentials needed: the
proposal check and the card use it); ``build_networks`` builds a client for every network the
settings configure. Adding a network is one module here, its emulator and its settings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assistant.networks import bluesky, mastodon, x
from assistant.networks.base import LengthRule, Network

if TYPE_CHECKING:
    import aiohttp

    from assistant.settings import Settings
    from assistant.store import Store

__all__ = ["RULES", "LengthRule", "Network", "build_networks", "rule_for"]

RULES: dict[str, LengthRule] = {
    rule.platform: rule for rule in (mastodon.RULE, bluesky.RULE, x.RULE)
}


def rule_for(platform: str) -> LengthRule | None:
    """The network's length rule; None for a platform we cannot publish to (``webhook``)."""
    return RULES.get(platform)


def build_networks(
    settings: Settings, session: aiohttp.ClientSession, store: Store
) -> dict[str, Network]:
    """A client per configured network, keyed by platform."""
    s = settings
    out: dict[str, Network] = {}
    if s.MASTODON_BASE_URL and s.MASTODON_ACCESS_TOKEN:
        out["mastodon"] = mastodon.MastodonClient(
            session,
            str(s.MASTODON_BASE_URL),
            s.MASTODON_ACCESS_TOKEN.get_secret_value(),
            poll_seconds=s.MASTODON_POLL_SECONDS,
        )
    if s.BLUESKY_HANDLE and s.BLUESKY_APP_PASSWORD:
        out["bluesky"] = bluesky.BlueskyClient(
            session,
            store,
            str(s.BLUESKY_SERVICE),
            s.BLUESKY_HANDLE,
            s.BLUESKY_APP_PASSWORD.get_secret_value(),
            poll_seconds=s.BLUESKY_POLL_SECONDS,
        )
    auth: x.OAuth1 | x.OAuth2 | None = None
    if s.X_CLIENT_ID and s.X_REFRESH_TOKEN:
        auth = x.OAuth2(
            s.X_CLIENT_ID,
            s.X_CLIENT_SECRET.get_secret_value() if s.X_CLIENT_SECRET else None,
            s.X_REFRESH_TOKEN.get_secret_value(),
        )
    elif s.X_CONSUMER_KEY and s.X_CONSUMER_SECRET and s.X_ACCESS_TOKEN and s.X_ACCESS_TOKEN_SECRET:
        auth = x.OAuth1(
            s.X_CONSUMER_KEY,
            s.X_CONSUMER_SECRET.get_secret_value(),
            s.X_ACCESS_TOKEN.get_secret_value(),
            s.X_ACCESS_TOKEN_SECRET.get_secret_value(),
        )
    if auth is not None:
        out["x"] = x.XClient(
            session,
            store,
            str(s.X_API_URL),
            auth,
            poll_seconds=s.X_POLL_SECONDS,
            monthly_read_budget=s.X_MONTHLY_READ_BUDGET,
        )
    return out
