"""A complete local world: the Slack, Mastodon, Bluesky and X emulators and the real assistant.

Used by ``make demo``, the end-to-end tests and the benchmarks, so all three exercise the same
thing: the real app over real HTTP, on a real Redis (embedded unless a URL is given).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, overload

import aiohttp

from assistant.app import Assistant
from assistant.emulators.bluesky import BlueskyEmulator
from assistant.emulators.llm import LLMEmulator
from assistant.emulators.mastodon import MastodonEmulator
from assistant.emulators.moderation import ModerationEmulator
from assistant.emulators.slack import EmulatedUser, SlackEmulator
from assistant.emulators.x import XEmulator
from assistant.models import Case
from assistant.settings import Settings
from assistant.sources.ingest import SIGNATURE_HEADER, sign

T = TypeVar("T")

CHANNEL = "CCASES"
SIGNING_SECRET = "sandbox-signing-secret"
BOT_TOKEN = "xoxb-sandbox-bot-token"
APP_TOKEN = "xapp-sandbox-app-token"
INGEST_SECRET = "sandbox-ingest-secret"
MASTODON_TOKEN = "sandbox-mastodon-token"
BLUESKY_HANDLE = "brand.bsky.social"
BLUESKY_APP_PASSWORD = "sand-box0-app0-pass"
X_CLIENT_ID = "sandbox-x-client"
X_CLIENT_SECRET = "sandbox-x-secret"
X_FIRST_REFRESH_TOKEN = "sandbox-x-first-refresh-token"
MODERATION_KEY = "sandbox-moderation-key"
LLM_API_KEY = "sandbox-llm-key"
LLM_MODEL = "sandbox-model"
MANAGER_GROUP = "SMANAGERS"
ONCALL_GROUP = "SONCALL"

# The community team of the sandbox workspace.
ALICE, BOB, CAROL, DAVE = "UALICE", "UBOB", "UCAROL", "UDAVE"
MAX = "UMAX"  # a manager named directly in ASSISTANT_MANAGERS
MANON = "UMANON"  # a manager through the manager user group
OLIVIA = "UOLIVIA"  # on call
OTHER_BOT = "UOTHERBOT"  # another app's bot user in the channel

TEAM = (
    EmulatedUser(ALICE, "alice", "Alice Martin", "Alice"),
    EmulatedUser(BOB, "bob", "Bob Durand", "Bob"),
    EmulatedUser(CAROL, "carol", "Carol Petit", "Carol"),
    EmulatedUser(DAVE, "dave", "Dave Moreau", "Dave"),
    EmulatedUser(MAX, "max", "Max Leroy", "Max (manager)"),
    EmulatedUser(MANON, "manon", "Manon Roux", "Manon (manager)"),
    EmulatedUser(OLIVIA, "olivia", "Olivia Blanc", "Olivia (on call)"),
    EmulatedUser(OTHER_BOT, "otherbot", "Other Bot", "otherbot", is_bot=True, bot_id="BOTHER"),
)


def network_emulators() -> tuple[MastodonEmulator, BlueskyEmulator, XEmulator]:
    """The three networks' emulators with the sandbox's credentials (not started)."""
    return (
        MastodonEmulator(access_token=MASTODON_TOKEN, domain="social.example"),
        BlueskyEmulator(handle=BLUESKY_HANDLE, app_password=BLUESKY_APP_PASSWORD),
        XEmulator(
            client_id=X_CLIENT_ID,
            client_secret=X_CLIENT_SECRET,
            refresh_token=X_FIRST_REFRESH_TOKEN,
        ),
    )


def network_settings(bluesky: BlueskyEmulator | None, x: XEmulator | None) -> dict[str, Any]:
    """The BLUESKY_* and X_* settings pointing at the emulators (polling off by default)."""
    values: dict[str, Any] = {}
    if bluesky is not None:
        values.update(
            BLUESKY_SERVICE=bluesky.base_url,
            BLUESKY_HANDLE=BLUESKY_HANDLE,
            BLUESKY_APP_PASSWORD=BLUESKY_APP_PASSWORD,
            BLUESKY_POLL_SECONDS=0,
        )
    if x is not None:
        values.update(
            X_API_URL=x.base_url,
            X_CLIENT_ID=X_CLIENT_ID,
            X_CLIENT_SECRET=X_CLIENT_SECRET,
            X_REFRESH_TOKEN=X_FIRST_REFRESH_TOKEN,
            X_POLL_SECONDS=0,
        )
    return values


def settings_for(
    slack: SlackEmulator,
    mastodon: MastodonEmulator,
    *,
    data_dir: Path,
    bluesky: BlueskyEmulator | None = None,
    x: XEmulator | None = None,
    redis_url: str | None = None,
    **overrides: Any,
) -> Settings:
    values: dict[str, Any] = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "HOST": "127.0.0.1",
        "PORT": 0,
        "REDIS_URL": redis_url,
        "ASSISTANT_DATA_DIR": data_dir,
        "ASSISTANT_CHANNEL": CHANNEL,
        "ASSISTANT_APPROVALS_REQUIRED": 2,
        "ASSISTANT_MANAGERS": f"{MAX},{MANAGER_GROUP}",
        "ASSISTANT_MANAGER_APPROVALS_REQUIRED": 1,
        "ASSISTANT_ONCALL": ONCALL_GROUP,
        "ASSISTANT_SLA_SECONDS": 1800,
        "INGEST_SECRET": INGEST_SECRET,
        "MASTODON_BASE_URL": mastodon.base_url,
        "MASTODON_ACCESS_TOKEN": MASTODON_TOKEN,
        "MASTODON_POLL_SECONDS": 0,
        **network_settings(bluesky, x),
    }
    values.update(overrides)
    return Settings(**values)


def webhook_body(notification: dict[str, Any]) -> dict[str, Any]:
    """What a monitoring tool would send to /ingest/mentions for a Mastodon notification."""
    from assistant.networks.mastodon import mention_from_notification

    return json.loads(mention_from_notification(notification).model_dump_json())  # type: ignore[no-any-return]


@overload
async def wait_for(
    probe: Callable[[], Awaitable[T | None]],
    timeout: float = ...,
    what: str = ...,
    interval: float = ...,
) -> T: ...


@overload
async def wait_for(
    probe: Callable[[], T | None], timeout: float = ..., what: str = ..., interval: float = ...
) -> T: ...


async def wait_for(
    probe: Callable[[], Any], timeout: float = 10.0, what: str = "condition", interval: float = 0.01
) -> Any:
    """Poll ``probe`` (sync or async) until it returns something truthy; return that.

    TimeoutError naming ``what`` after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if isinstance(value, Awaitable):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


@dataclass
class Sandbox:
    slack: SlackEmulator
    mastodon: MastodonEmulator
    app: Assistant
    http: aiohttp.ClientSession
    data_dir: Path
    bluesky: BlueskyEmulator
    x: XEmulator
    replicas: list[Assistant] = field(default_factory=list)
    moderation: ModerationEmulator | None = None
    llm: LLMEmulator = field(default_factory=LLMEmulator)
    """The chat completions endpoint; the app uses it only with ``sandbox(drafts=True)``."""

    @property
    def settings(self) -> Settings:
        return self.app.settings

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.app.port}"

    async def ingest(
        self,
        body: dict[str, Any] | bytes,
        *,
        secret: str = INGEST_SECRET,
        signature: str | None = None,
        port: int | None = None,
        path: str = "/ingest/mentions",
    ) -> tuple[int, dict[str, Any]]:
        """POST to /ingest/mentions (or ``path``: the batch form), signed like a monitoring
        tool would (or as told); to the replica listening on ``port`` if given."""
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        sig = sign(secret.encode(), raw) if signature is None else signature
        if sig:
            headers[SIGNATURE_HEADER] = sig
        base = self.base_url if port is None else f"http://127.0.0.1:{port}"
        async with self.http.post(f"{base}{path}", data=raw, headers=headers) as resp:
            return resp.status, await resp.json(content_type=None)

    async def hostile_mention(
        self, text: str, *, acct: str = "colere@mastodon.social", followers: int = 1200
    ) -> tuple[str, dict[str, Any]]:
        """A Mastodon user insults the brand; a tool forwards it: returns (case id, notif)."""
        notification = self.mastodon.add_mention(
            acct, text, display_name=acct.split("@")[0].title(), followers=followers, language=None
        )
        status, answer = await self.ingest(webhook_body(notification))
        if status != 202:
            raise AssertionError(f"ingest answered {status}: {answer}")
        return str(answer["case"]), notification

    async def case(self, case_id: str) -> Case:
        case = await self.app.store.get_case(case_id)
        if case is None:
            raise AssertionError(f"no case {case_id}")
        return case

    async def card(self, case_id: str, timeout: float = 10.0) -> Case:
        """Wait until the case's card is posted; returns the case."""

        async def posted() -> Case | None:
            case = await self.case(case_id)
            return case if case.card_ts else None

        return await self.wait_for(posted, timeout, f"card of case {case_id}")

    wait_for = staticmethod(wait_for)

    async def add_replica(self, **overrides: Any) -> Assistant:
        """Another replica of the app on the same Redis (it receives no Slack events)."""
        redis_url = self.settings.REDIS_URL or f"unix://{self.data_dir.resolve()}/redis.sock"
        overrides.setdefault("REDIS_CLUSTER", self.settings.REDIS_CLUSTER)
        for name in (  # one shared limiter: every replica with the same rate
            "ASSISTANT_SLACK_POSTS_PER_SECOND",
            "ASSISTANT_SLACK_POST_BURST",
            "ASSISTANT_SURGE_THRESHOLD",
            "ASSISTANT_SURGE_WINDOW_SECONDS",
            "ASSISTANT_SURGE_QUIET_SECONDS",
            "ASSISTANT_SURGE_REACH",
            "ASSISTANT_SURGE_CARDS_PER_MINUTE",
            "ASSISTANT_SURGE_REFRESH_SECONDS",
        ):
            overrides.setdefault(name, getattr(self.settings, name))
        settings = settings_for(
            self.slack,
            self.mastodon,
            data_dir=self.data_dir,
            redis_url=redis_url,
            bluesky=self.bluesky,
            x=self.x,
            **overrides,
        )
        replica = Assistant(settings)
        await replica.start()
        self.replicas.append(replica)
        return replica


@asynccontextmanager
async def sandbox(
    data_dir: Path,
    *,
    redis_url: str | None = None,
    socket_mode: bool = False,
    moderation: bool = False,
    drafts: bool = False,
    **overrides: Any,
) -> AsyncIterator[Sandbox]:
    """Start the emulators and the assistant; stop everything on exit. ``moderation=True``
    also starts the moderation emulator and points ASSISTANT_MODERATION_URL at it; ``drafts``
    points ASSISTANT_LLM_* at the LLM emulator (else nothing calls it).

    The Slack emulator rate-limits nothing unless asked (``post_rate_limit``), so neither does
    the app by default here (50 posts a second per channel), and surges are off (threshold 0):
    the tests, the demo and the benchmarks that show them set both to Slack's figures."""
    overrides.setdefault("ASSISTANT_SLACK_POSTS_PER_SECOND", 50)
    overrides.setdefault("ASSISTANT_SLACK_POST_BURST", 50)
    overrides.setdefault("ASSISTANT_SURGE_THRESHOLD", 0)
    post_rate_limit = overrides.pop("slack_post_rate_limit", None)
    slack = SlackEmulator(
        post_rate_limit=post_rate_limit,
        signing_secret=SIGNING_SECRET,
        bot_token=BOT_TOKEN,
        app_token=APP_TOKEN if socket_mode else None,
        users=TEAM,
        usergroups={MANAGER_GROUP: [MANON], ONCALL_GROUP: [OLIVIA]},
        channels=(CHANNEL,),
    )
    mastodon, bluesky, x = network_emulators()
    await slack.start()
    await mastodon.start()
    await bluesky.start()
    await x.start()
    llm = LLMEmulator(api_key=LLM_API_KEY, model=LLM_MODEL)
    await llm.start()
    if drafts:
        overrides.setdefault("ASSISTANT_LLM_URL", llm.base_url)
        overrides.setdefault("ASSISTANT_LLM_MODEL", LLM_MODEL)
        overrides.setdefault("ASSISTANT_LLM_API_KEY", LLM_API_KEY)
    if socket_mode:
        overrides.setdefault("SLACK_APP_TOKEN", APP_TOKEN)
    moderator = ModerationEmulator(MODERATION_KEY) if moderation else None
    if moderator is not None:
        await moderator.start()
        overrides.setdefault("ASSISTANT_MODERATION_URL", moderator.base_url)
        overrides.setdefault("ASSISTANT_MODERATION_API_KEY", MODERATION_KEY)
    app = Assistant(
        settings_for(
            slack,
            mastodon,
            data_dir=data_dir,
            redis_url=redis_url,
            bluesky=bluesky,
            x=x,
            **overrides,
        )
    )
    http = aiohttp.ClientSession()
    world: Sandbox | None = None
    try:
        await app.start()
        slack.events_url = f"http://127.0.0.1:{app.port}/slack/events"
        world = Sandbox(
            slack, mastodon, app, http, data_dir, bluesky, x, moderation=moderator, llm=llm
        )
        yield world
    finally:
        await slack.drain()
        for replica in world.replicas if world else []:
            await replica.stop()
        await app.stop()
        await http.close()
        await slack.stop()
        await mastodon.stop()
        await bluesky.stop()
        await x.stop()
        if moderator is not None:
            await moderator.stop()
        await llm.stop()
